import { blobGarbage, collectReferences, type BlobGarbage } from "@kiln/storage";
import type { StoreDeps } from "./deps.js";
import { GARBAGE, UPLOADS, VERSIONS, type VersionRecord } from "./records.js";

/** The store's chunks: referenced by versions and by uploads still open. */
export function storeGarbage(deps: Pick<StoreDeps, "metadata" | "blobs" | "now">): BlobGarbage {
  return blobGarbage({
    metadata: deps.metadata,
    blobs: deps.blobs,
    collection: GARBAGE,
    now: deps.now,
    async referenced() {
      const out = await collectReferences<VersionRecord>(deps.metadata, VERSIONS, (v) => v.chunks.map((c) => c.sha256));
      return collectReferences<{ state: { chunks: { sha256: string }[] } }>(deps.metadata, UPLOADS, (u) => u.state.chunks.map((c) => c.sha256), out);
    },
  });
}
