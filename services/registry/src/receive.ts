import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { once } from "node:events";
import { resourceExhausted } from "@kiln/core";
import type { RegistryDeps } from "./deps.js";
import { registryGarbage } from "./garbage.js";
import type { BlobChunk, StoredFile } from "./records.js";

/** Stored chunks stay well under the RPC message limit, so downloads can send them whole. */
export const CHUNK_BYTES = 4 * 1024 * 1024;

export interface ReceivedFile {
  file: StoredFile;
  /** A copy on local disk, when asked for (format checks); the caller removes it. */
  spoolPath?: string;
  /** Forgets the stored chunks (they become garbage) when the file is not kept. */
  discard(): Promise<void>;
}

/**
 * Stores an incoming byte stream as content-addressed chunks while hashing all of it.
 * Over `limit` bytes → ResourceExhausted; on any failure what was stored is marked as
 * garbage, so a cut-off upload leaves nothing behind.
 */
export async function receiveFile(
  deps: RegistryDeps,
  pieces: AsyncIterable<Uint8Array>,
  options: { limit: number; what: string; spool?: boolean },
): Promise<ReceivedFile> {
  const chunks: BlobChunk[] = [];
  const hash = createHash("sha256");
  let size = 0;
  let spool: WriteStream | undefined;
  let spoolPath: string | undefined;
  const discard = async () => {
    await registryGarbage(deps).mark(chunks.map((c) => c.sha256));
    if (spoolPath) await rm(spoolPath, { force: true });
  };
  try {
    if (options.spool) {
      await mkdir(deps.spoolDir, { recursive: true });
      spoolPath = join(deps.spoolDir, `${randomUUID()}.upload`);
      spool = createWriteStream(spoolPath);
    }
    for await (const chunk of rechunk(pieces, CHUNK_BYTES)) {
      size += chunk.length;
      if (size > options.limit) {
        throw resourceExhausted("MODEL_TOO_LARGE", `the ${options.what} exceeds the limit of ${options.limit} bytes (KILN_MAX_MODEL_BYTES)`);
      }
      hash.update(chunk);
      if (spool && !spool.write(chunk)) await once(spool, "drain");
      const blob = await deps.blobs.put(chunk);
      chunks.push({ sha256: blob.sha256, size: blob.size });
    }
    if (spool) {
      spool.end();
      await once(spool, "finish");
    }
  } catch (e) {
    spool?.destroy();
    await discard();
    throw e;
  }
  return { file: { chunks, size, sha256: hash.digest("hex") }, spoolPath, discard };
}

/** Regroups pieces into chunks of `size` bytes (the last may be shorter), copying only to join. */
async function* rechunk(pieces: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (let piece of pieces) {
    while (pendingBytes + piece.length >= size) {
      const take = size - pendingBytes;
      pending.push(piece.subarray(0, take));
      yield pending.length === 1 ? pending[0] : Buffer.concat(pending);
      piece = piece.subarray(take);
      pending = [];
      pendingBytes = 0;
    }
    if (piece.length) {
      pending.push(piece);
      pendingBytes += piece.length;
    }
  }
  if (pendingBytes) yield pending.length === 1 ? pending[0] : Buffer.concat(pending);
}
