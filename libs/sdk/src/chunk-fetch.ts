import { Code } from "@connectrpc/connect";
import { DataLossError, NotFoundError, UnavailableError } from "./errors.js";

/** Fetches a stored chunk's bytes by the path a ChunkReference names. */
export interface ChunkFetcher {
  /** The bytes, and their sha256 when the fetcher hashes as they arrive. */
  fetch(path: string, size: number): Promise<{ bytes: Uint8Array; sha256?: string }>;
  close(): void;
}

export interface ChunkRefLike {
  path: string;
  sha256: string;
  size: bigint;
}

/** Fetches a chunk and checks its sha256. */
export async function fetchVerified(fetcher: ChunkFetcher, ref: ChunkRefLike): Promise<Uint8Array> {
  const { bytes, sha256 } = await fetcher.fetch(ref.path, Number(ref.size));
  const actual = sha256 ?? toHex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", bytes)));
  if (actual !== ref.sha256) {
    throw new DataLossError(`chunk ${ref.sha256} arrived with different bytes`, Code.DataLoss, "BLOB_CORRUPT", { sha256: ref.sha256 });
  }
  return bytes;
}

export function httpStatusError(status: number, path: string): Error {
  if (status === 404) return new NotFoundError(`chunk ${path} is gone (was the dataset deleted?)`, Code.NotFound, "CHUNK_NOT_FOUND", { path });
  return new UnavailableError(`chunk ${path}: HTTP ${status}`, Code.Unavailable, "CHUNK_UNAVAILABLE", { path, status: String(status) });
}

/** Browsers (and any runtime with fetch): one GET per chunk. */
export function fetchChunkFetcher(baseUrl: string): ChunkFetcher {
  return {
    async fetch(path) {
      const res = await fetch(new URL(path, baseUrl));
      if (!res.ok) throw httpStatusError(res.status, path);
      return { bytes: new Uint8Array(await res.arrayBuffer()) };
    },
    close() {},
  };
}

/**
 * Maps each item through `load` with up to `depth` loads in flight, yielding results in
 * the source's order: bulk reads overlap transfer, hashing and the caller's decoding.
 */
export async function* prefetchInOrder<T, U>(source: AsyncIterable<T>, load: (item: T) => Promise<U>, depth: number): AsyncGenerator<U> {
  const pending: Promise<U>[] = [];
  try {
    for await (const item of source) {
      const p = load(item);
      p.catch(() => {}); // observed when its turn comes
      pending.push(p);
      if (pending.length >= depth) yield await pending.shift()!;
    }
    while (pending.length) yield await pending.shift()!;
  } finally {
    pending.length = 0;
  }
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
