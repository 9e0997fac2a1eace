import { REGISTRY_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import type { ChunkReference } from "@kiln/proto/kiln/common/v1/chunk_pb";
import type { RegistryDeps } from "./deps.js";
import type { StoredFile } from "./records.js";

/** Where stored chunks are served for downloads by reference. */
export const CHUNK_PATH_PREFIX = REGISTRY_CHUNK_PATH_PREFIX;

export type FilePart = { case: "chunk"; value: Uint8Array } | { case: "reference"; value: Omit<ChunkReference, "$typeName"> };

/** A stored file as inline chunks, or as references the client fetches with HTTP GETs. */
export async function* fileParts(deps: Pick<RegistryDeps, "blobs">, file: StoredFile, byReference: boolean): AsyncGenerator<FilePart> {
  for (const c of file.chunks) {
    if (byReference) {
      yield { case: "reference", value: { path: CHUNK_PATH_PREFIX + c.sha256, sha256: c.sha256, size: BigInt(c.size), rows: 0n } };
    } else {
      yield { case: "chunk", value: await deps.blobs.getBytes(c.sha256) };
    }
  }
}
