import type { BlobStore } from "./blob.js";
import type { MetadataStore } from "./metadata.js";
import { storedInPages } from "./stored-in-pages.js";

/**
 * Blobs nothing references any more are deleted in two steps. First they are marked
 * with the time; a later sweep, a grace period on, deletes those still unreferenced. A
 * writer that stored the same bytes meanwhile (content addressing shares blobs) has long
 * committed by then, so its blob is seen as referenced and kept.
 */
export const GARBAGE_GRACE_MS = 60 * 60 * 1000;

export interface BlobGarbageOptions {
  metadata: MetadataStore;
  blobs: BlobStore;
  /** Collection holding the marks, one per service. */
  collection: string;
  /** Every blob id the service still references (versions, open uploads...). */
  referenced(): Promise<Set<string>>;
  now?: () => Date;
}

export interface BlobGarbage {
  /** Marks blobs that may be unreferenced now, or restarts their grace period. */
  mark(candidates: Iterable<string>): Promise<void>;
  /** Deletes marked blobs whose grace is over and that nothing references; returns how many. */
  sweep(): Promise<number>;
}

export function blobGarbage(options: BlobGarbageOptions): BlobGarbage {
  const marks = options.metadata.collection<{ since: string }>(options.collection);
  const now = () => options.now?.() ?? new Date();
  return {
    async mark(candidates) {
      const since = now().toISOString();
      for (const sha256 of new Set(candidates)) {
        // A fresh mark restarts the grace period: a blob uploaded again just now is about
        // to be referenced, however long ago it was first marked. Racing marks are as good.
        const found = await marks.get(sha256);
        if (found) await marks.update(sha256, { since }, found.rev).catch(() => {});
        else await marks.create(sha256, { since }).catch(() => {});
      }
    },
    async sweep() {
      const at = now().getTime();
      const due = (await marks.list()).filter((g) => at - Date.parse(g.value.since) >= GARBAGE_GRACE_MS);
      if (due.length === 0) return 0;
      const referenced = await options.referenced();
      let deleted = 0;
      for (const g of due) {
        if (!referenced.has(g.key) && (await options.blobs.delete(g.key))) deleted++;
        await marks.delete(g.key, g.rev);
      }
      return deleted;
    },
  };
}

/** Collects blob ids from every record of a collection, a page at a time. */
export async function collectReferences<T>(metadata: MetadataStore, collection: string, idsOf: (record: T) => Iterable<string>, into = new Set<string>()): Promise<Set<string>> {
  for await (const row of storedInPages(metadata.collection<T>(collection))) for (const id of idsOf(row.value)) into.add(id);
  return into;
}
