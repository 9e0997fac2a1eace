import { blobGarbage, collectReferences, type BlobGarbage } from "@kiln/storage";
import type { RegistryDeps } from "./deps.js";
import { GARBAGE, VERSIONS, blobsOf, type VersionRecord } from "./records.js";

/** The registry's blobs: referenced by versions (model files and attachments). */
export function registryGarbage(deps: Pick<RegistryDeps, "metadata" | "blobs" | "now">): BlobGarbage {
  return blobGarbage({
    metadata: deps.metadata,
    blobs: deps.blobs,
    collection: GARBAGE,
    now: deps.now,
    referenced: () => collectReferences<VersionRecord>(deps.metadata, VERSIONS, blobsOf),
  });
}
