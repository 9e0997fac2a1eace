import { Code } from "@connectrpc/connect";
import { authorizationHeader, type TokenSource } from "./token-source.js";
import { DataLossError, InvalidArgumentError, NotFoundError, PermissionDeniedError, ResourceExhaustedError, UnauthenticatedError, UnavailableError } from "./errors.js";

/** Moves chunks over plain HTTP beside the RPCs: GET by a ChunkReference's path, PUT to upload. */
export interface ChunkFetcher {
  /** The bytes (in `into` when given and large enough), and their sha256 when the fetcher can vouch for it (a local reader of a content-addressed store); else the caller hashes them. */
  fetch(path: string, size: number, into?: Uint8Array): Promise<{ bytes: Uint8Array; sha256?: string }>;
  /** Stores bytes at `{prefix}{sha256}` (PUT) and returns the sha256, once the request is over with the bytes. */
  put(prefix: string, bytes: Uint8Array): Promise<string>;
  close(): void;
}

/** A chunk's bytes read without the network (into `into` when given and large enough), or undefined if this reader has no such chunk. */
export type LocalChunkReader = (path: string, size: number, into?: Uint8Array) => Promise<{ bytes: Uint8Array; sha256: string } | undefined>;

/** `fetcher`, reading through `local` first when there is one. */
export function withLocalReads(fetcher: ChunkFetcher, local: LocalChunkReader | undefined): ChunkFetcher {
  if (!local) return fetcher;
  return {
    async fetch(path, size, into) {
      return (await local(path, size, into)) ?? fetcher.fetch(path, size, into);
    },
    put: (prefix, bytes) => fetcher.put(prefix, bytes),
    close: () => fetcher.close(),
  };
}

export interface ChunkRefLike {
  path: string;
  sha256: string;
  size: bigint;
}

/**
 * Fetches a chunk (into `into`, if it fits) and checks its sha256. WebCrypto hashes on
 * Node's thread pool, so a chunk is checked while the main thread receives and decodes the
 * next ones: hashing as the pieces arrived kept it on the main thread, the read's bottleneck
 * (a 192 MB read 581–616 → 480–561 ms).
 */
export async function fetchVerified(fetcher: ChunkFetcher, ref: ChunkRefLike, into?: Uint8Array): Promise<Uint8Array> {
  const { bytes, sha256 } = await fetcher.fetch(ref.path, Number(ref.size), into);
  const actual = sha256 ?? (await sha256Hex(bytes));
  if (actual !== ref.sha256) {
    throw new DataLossError(`chunk ${ref.sha256} arrived with different bytes`, Code.DataLoss, "BLOB_CORRUPT", { sha256: ref.sha256 });
  }
  return bytes;
}

export function httpStatusError(status: number, path: string): Error {
  if (status === 401) return new UnauthenticatedError(`chunk ${path}: the server wants a token (KILN_TOKEN, or the token option), or took it for a bad one`, Code.Unauthenticated, "TOKEN_REQUIRED", { path });
  if (status === 403) return new PermissionDeniedError(`chunk ${path}: the token's role is too low for this`, Code.PermissionDenied, "ROLE_TOO_LOW", { path });
  if (status === 400) return new InvalidArgumentError(`chunk ${path} was refused: its bytes do not match its name`, Code.InvalidArgument, "CHUNK_MISMATCH", { path });
  if (status === 413) return new ResourceExhaustedError(`chunk ${path} is larger than the server accepts`, Code.ResourceExhausted, "CHUNK_TOO_LARGE", { path });
  if (status === 507) return new ResourceExhaustedError(`chunk ${path} was not stored: the server's storage is full; free space there and try again (what a drop frees is deleted an hour after it)`, Code.ResourceExhausted, "STORAGE_FULL", { path });
  if (status === 404) return new NotFoundError(`chunk ${path} is gone (was the dataset deleted?)`, Code.NotFound, "CHUNK_NOT_FOUND", { path });
  return new UnavailableError(`chunk ${path}: HTTP ${status}`, Code.Unavailable, "CHUNK_UNAVAILABLE", { path, status: String(status) });
}

/** Browsers (and any runtime with fetch): one GET per chunk. */
export function fetchChunkFetcher(baseUrl: string, token?: TokenSource): ChunkFetcher {
  return {
    async fetch(path) {
      const res = await fetch(new URL(path, baseUrl), { headers: await authorizationHeader(token) });
      if (!res.ok) throw httpStatusError(res.status, path);
      return { bytes: new Uint8Array(await res.arrayBuffer()) };
    },
    async put(prefix, bytes) {
      const sha256 = await sha256Hex(bytes);
      const res = await fetch(new URL(prefix + sha256, baseUrl), { method: "PUT", body: bytes, headers: await authorizationHeader(token) });
      if (!res.ok) throw httpStatusError(res.status, prefix + sha256);
      return sha256;
    },
    close() {},
  };
}

/**
 * Maps each item through `load` with up to `depth` loads in flight, yielding results in
 * the source's order: bulk reads overlap transfer, hashing and the caller's decoding.
 * A finished load is yielded without waiting for the source's next item (waiting held an
 * executor's finished batches back until its next input chunk had arrived). With
 * `firstDepth` below `depth`, the first loads go that many at a time and the number
 * doubles with each result, so the first result is not slowed by the ones behind it.
 */
export async function* prefetchInOrder<T, U>(source: AsyncIterable<T>, load: (item: T) => Promise<U>, depth: number, firstDepth = depth): AsyncGenerator<U> {
  const items = source[Symbol.asyncIterator]();
  const pending: Promise<U>[] = [];
  let limit = Math.min(firstDepth, depth);
  let next: Promise<IteratorResult<T>> | undefined; // asked of the source, not yet taken
  let exhausted = false;
  try {
    for (;;) {
      while (!exhausted && pending.length < limit) {
        if (!next) {
          next = items.next();
          next.catch(() => {}); // observed when taken
        }
        if (pending.length > 0 && (await Promise.race([next.then(() => false), settled(pending[0]!)]))) break;
        const taken = await next;
        next = undefined;
        if (taken.done) exhausted = true;
        else {
          const p = load(taken.value);
          p.catch(() => {}); // observed when its turn comes
          pending.push(p);
        }
      }
      const head = pending.shift();
      if (!head) return;
      yield await head;
      limit = Math.min(depth, limit * 2);
    }
  } finally {
    pending.length = 0;
    // Like for-await on an early exit, close the source; behind an item still on its way, without waiting for it.
    if (!exhausted && next) void items.return?.()?.catch(() => {});
    else if (!exhausted) await items.return?.();
  }
}

function settled(p: Promise<unknown>): Promise<true> {
  return p.then(
    () => true,
    () => true,
  );
}

/** Uploads chunks a few at a time (PUT), yielding their references in order; each chunk stored goes to `done` (to be reused). */
export function putInOrder(
  fetcher: ChunkFetcher,
  prefix: string,
  chunks: AsyncIterable<Uint8Array>,
  done?: (chunk: Uint8Array) => void,
  depth = 4,
): AsyncGenerator<{ sha256: string; size: bigint; path: string; rows: bigint }> {
  return prefetchInOrder(
    chunks,
    async (bytes) => {
      const sha256 = await fetcher.put(prefix, bytes);
      const size = BigInt(bytes.length);
      done?.(bytes);
      return { sha256, size, path: prefix + sha256, rows: 0n };
    },
    depth,
  );
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // WebCrypto refuses views of shared memory: such bytes are hashed from a copy.
  const hashable = typeof SharedArrayBuffer !== "undefined" && bytes.buffer instanceof SharedArrayBuffer ? new Uint8Array(bytes) : bytes;
  return toHex(new Uint8Array(await globalThis.crypto.subtle.digest("SHA-256", hashable)));
}

function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}
