import { failedPrecondition, invalidArgument } from "@kiln/core";
import type { BlobStore } from "./blob.js";

/**
 * Checks a chunk a write names by reference: it must have been uploaded (PUT) and hold
 * the size the reference claims. Returns its size.
 */
export async function checkUploadedChunk(blobs: Pick<BlobStore, "stat">, ref: { sha256: string; size: bigint }): Promise<number> {
  const stored = await blobs.stat(ref.sha256);
  if (!stored) throw failedPrecondition("CHUNK_NOT_UPLOADED", `chunk ${ref.sha256} was not uploaded (PUT it first)`, { sha256: ref.sha256 });
  if (BigInt(stored.size) !== ref.size) throw invalidArgument("CHUNK_SIZE_MISMATCH", `chunk ${ref.sha256} holds ${stored.size} bytes, the reference says ${ref.size}`);
  return stored.size;
}
