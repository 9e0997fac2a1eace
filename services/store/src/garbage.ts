import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { StoreDeps } from "./deps.js";
import { GARBAGE, UPLOADS, VERSIONS, type VersionRecord } from "./records.js";

/**
 * Chunks nothing references any more are deleted in two steps. First they are marked
 * with the time; a later sweep, a grace period on, deletes those still unreferenced by
 * any version or open upload. A writer that stored the same bytes meanwhile (content
 * addressing shares blobs) has long committed by then, so its chunk is seen and kept.
 */
export const GARBAGE_GRACE_MS = 60 * 60 * 1000;

type GcDeps = Pick<StoreDeps, "metadata" | "blobs" | "logger" | "now">;

export async function markGarbage(deps: GcDeps, candidates: string[]): Promise<void> {
  const garbage = deps.metadata.collection<{ since: string }>(GARBAGE);
  const since = (deps.now?.() ?? new Date()).toISOString();
  for (const sha256 of new Set(candidates)) {
    try {
      await garbage.create(sha256, { since });
    } catch (e) {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
    }
  }
}

/** Deletes marked chunks whose grace is over and that nothing references; returns how many. */
export async function sweepGarbage(deps: GcDeps): Promise<number> {
  const garbage = deps.metadata.collection<{ since: string }>(GARBAGE);
  const now = (deps.now?.() ?? new Date()).getTime();
  const due = (await garbage.list()).filter((g) => now - Date.parse(g.value.since) >= GARBAGE_GRACE_MS);
  if (due.length === 0) return 0;
  const referenced = await referencedChunks(deps);
  let deleted = 0;
  for (const g of due) {
    if (!referenced.has(g.key) && (await deps.blobs.delete(g.key))) deleted++;
    await garbage.delete(g.key, g.rev);
  }
  deps.logger.debug({ deleted, kept: due.length - deleted }, "garbage swept");
  return deleted;
}

async function referencedChunks(deps: GcDeps): Promise<Set<string>> {
  const out = new Set<string>();
  const scan = async <T>(collection: string, chunksOf: (v: T) => { sha256: string }[]) => {
    const c = deps.metadata.collection<T>(collection);
    let after: string | undefined;
    for (;;) {
      const rows = await c.list({ after, limit: 500 });
      for (const row of rows) for (const chunk of chunksOf(row.value)) out.add(chunk.sha256);
      if (rows.length < 500) return;
      after = rows[rows.length - 1].key;
    }
  };
  await scan<VersionRecord>(VERSIONS, (v) => v.chunks);
  await scan<{ state: { chunks: { sha256: string }[] } }>(UPLOADS, (u) => u.state.chunks);
  return out;
}
