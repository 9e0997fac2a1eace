import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { Code } from "@connectrpc/connect";
import { BufferRecycler } from "./buffer-recycler.js";
import { DataLossError } from "./errors.js";

// Node only (package.json maps this file away for browsers): models from and to disk.

/** A file opened for upload: its size, and its bytes in chunks. */
export interface FileChunks {
  size: number;
  chunks: AsyncIterable<Uint8Array>;
  /**
   * Hands a chunk back once the caller is done with it (its upload is over): later chunks
   * are read into the same memory. Chunks not handed back are simply not reused.
   */
  recycle(chunk: Uint8Array): void;
}

/** Buffers kept for reuse: the reads ahead plus the uploads in flight, with room to spare. */
const MAX_SPARE_BUFFERS = 8;

/**
 * A file's size and its bytes in `chunkBytes` chunks, never read whole. A fresh buffer per
 * chunk would be external memory that V8 frees only with a full collection once an
 * upload has kept it alive for a while: a 100 MB push ran 6–8 of them, a third of the
 * client's CPU. Recycled buffers avoid that; chunks of the size the caller sends also
 * save joining smaller pieces (a fresh buffer's pages fault in, then get copied into).
 */
export async function openFile(path: string, chunkBytes: number): Promise<FileChunks> {
  const { size } = await stat(path); // a missing file fails here, before any call
  const buffers = new BufferRecycler(MAX_SPARE_BUFFERS);
  const take = () => {
    const buffer = buffers.take(chunkBytes) ?? Buffer.allocUnsafeSlow(chunkBytes); // its own memory, not a slice of Node's pool
    buffers.lend(buffer);
    return buffer;
  };
  return { size, chunks: readChunks(path, chunkBytes, take, (b) => buffers.giveBack(b)), recycle: (chunk) => buffers.giveBack(chunk) };
}

async function* readChunks(path: string, chunkBytes: number, take: () => Uint8Array, putBack: (b: Uint8Array) => void): AsyncGenerator<Uint8Array> {
  const handle = await open(path, "r");
  try {
    for (let position = 0; ; ) {
      const buffer = take();
      let filled = 0;
      while (filled < chunkBytes) {
        const { bytesRead } = await handle.read(buffer, filled, chunkBytes - filled, position + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      position += filled;
      if (filled === 0) return putBack(buffer);
      yield filled === chunkBytes ? buffer : buffer.subarray(0, filled);
      if (filled < chunkBytes) return;
    }
  } finally {
    await handle.close();
  }
}

/**
 * Streams chunks into a file (making its folder) and checks the whole file's sha256; a
 * mismatch, or a transfer that fails, leaves no file behind. With `allVerified` (chunks
 * fetched by reference, each already checked against its own sha256) the file is not
 * hashed again unless some chunk came inline; then it is read back and hashed. Each
 * chunk goes to `written` once the file has it, so its memory can be reused.
 */
export async function writeVerified(
  path: string,
  chunks: AsyncIterable<Uint8Array>,
  sha256: string,
  allVerified?: () => boolean,
  written?: (chunk: Uint8Array) => void,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const hash = allVerified ? undefined : createHash("sha256");
  try {
    const file = await open(path, "w");
    try {
      for await (const chunk of chunks) {
        hash?.update(chunk);
        for (let at = 0; at < chunk.length; ) at += (await file.write(chunk, at)).bytesWritten;
        written?.(chunk);
      }
    } finally {
      await file.close();
    }
  } catch (e) {
    await rm(path, { force: true });
    throw e;
  }
  if (!sha256 || allVerified?.()) return;
  const actual = hash ? hash.digest("hex") : await fileDigest(path);
  if (actual !== sha256) {
    await rm(path, { force: true });
    throw new DataLossError(`${path} arrived with sha256 ${actual}, expected ${sha256}`, Code.DataLoss, "SHA256_MISMATCH", { path, expected: sha256, actual });
  }
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest("hex");
}

/** `dir/name`, refusing names (from the server) that would land outside `dir`. */
export function pathInside(dir: string, name: string): string {
  const root = resolve(dir);
  const path = resolve(root, name);
  if (!path.startsWith(root + sep)) throw new Error(`refusing to write "${name}" outside ${root}`);
  return path;
}
