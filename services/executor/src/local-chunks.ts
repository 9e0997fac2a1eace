import { Code } from "@connectrpc/connect";
import type { ServableBlobs } from "@kiln/core";
import { NotFoundError, type LocalChunkReader } from "@kiln/sdk";
import { open } from "node:fs/promises";

/** A service's blob store as the embedded executor reads it. */
export type LocalBlobs = Pick<ServableBlobs, "get"> & { localPath?(sha256: string): string };

/**
 * The embedded executor's chunk reads, straight from the services' blob stores instead of
 * over HTTP from its own server: a million-row predict spent a quarter of the process's
 * time sending, receiving and hashing its input on the loopback. A blob kept as a file is
 * read in place and not hashed again (the store named it by the sha256 of the bytes it
 * wrote); other stores verify as they stream.
 */
export function localChunkReader(blobsByPrefix: Record<string, LocalBlobs>): LocalChunkReader {
  const prefixes = Object.entries(blobsByPrefix);
  return async (path, size, into) => {
    const found = prefixes.find(([prefix]) => path.startsWith(prefix));
    if (!found) return undefined;
    const [prefix, blobs] = found;
    const sha256 = path.slice(prefix.length);
    const bytes = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafeSlow(size); // filled, or an error
    const file = blobs.localPath?.(sha256);
    const stored = file ? await readFileInto(file, sha256, bytes) : await readStreamInto(blobs.get(sha256), bytes);
    if (stored !== size) throw new Error(`chunk ${sha256} holds ${stored} bytes, not ${size}`);
    return { bytes, sha256 };
  };
}

/** What a direct reader tells its caller: each chunk it read in place, and each one it left to HTTP, with why. */
export interface DirectReadEvents {
  onRead?(): void;
  onMiss?(path: string, error: unknown): void;
}

/**
 * An executor process's chunk reads, straight from the blob stores the services use (a
 * shared KILN_DATA_DIR, the same S3 bucket) instead of through the store over HTTP: the
 * store would read the same bytes and send them, and the executor hash them again. A chunk
 * this process cannot read there (another data folder, no access, not there) is fetched
 * over HTTP, the authority on whether it exists.
 */
export function directChunkReader(blobsByPrefix: Record<string, LocalBlobs>, events: DirectReadEvents = {}): LocalChunkReader {
  const read = localChunkReader(blobsByPrefix);
  return async (path, size, into) => {
    try {
      const found = await read(path, size, into);
      if (found) events.onRead?.();
      return found;
    } catch (e) {
      events.onMiss?.(path, e);
      return undefined;
    }
  };
}

/** Reads a file into `into` if it is exactly as long; returns the file's length. */
async function readFileInto(path: string, sha256: string, into: Uint8Array): Promise<number> {
  const handle = await open(path, "r").catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") throw new NotFoundError(`chunk ${sha256} is gone (was the dataset deleted?)`, Code.NotFound, "CHUNK_NOT_FOUND", { sha256 });
    throw e;
  });
  try {
    const { size } = await handle.stat();
    if (size !== into.length) return size;
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(into, at, size - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at;
  } finally {
    await handle.close();
  }
}

async function readStreamInto(pieces: AsyncIterable<Uint8Array>, into: Uint8Array): Promise<number> {
  let at = 0;
  for await (const piece of pieces) {
    if (at + piece.length <= into.length) into.set(piece, at);
    at += piece.length;
  }
  return at;
}
