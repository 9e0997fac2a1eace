import type { BlobStore } from "./blob.js";

export interface RecentPutsOptions {
  /** At most this many bytes are kept; the oldest go first (default 32 MiB). */
  maxBytes?: number;
  /** Kept at most this long (default 60 s). */
  maxAgeMs?: number;
  now?: () => number;
}

/**
 * A blob store that keeps the bytes of its most recent puts in memory until they are read
 * once (get or getBytes). Uploads by reference PUT a chunk and then name it in a stream that
 * reads it back (for the file's digest and the format check); on ext4 a read of a
 * just-synced file waits while other chunks are being synced (5–200 ms a 4 MiB chunk
 * here). Bytes came in through put, which hashed them, so a hit needs no verification;
 * a miss (evicted, or another process) reads the store.
 */
export function withRecentPuts(blobs: BlobStore, options: RecentPutsOptions = {}): BlobStore {
  const maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  const recent = new Map<string, { pieces: Uint8Array[]; size: number; at: number }>(); // insertion order = age
  let heldBytes = 0;

  const drop = (sha256: string) => {
    const entry = recent.get(sha256);
    if (!entry) return undefined;
    recent.delete(sha256);
    heldBytes -= entry.size;
    return entry.pieces;
  };
  const keep = (sha256: string, pieces: Uint8Array[], size: number) => {
    if (size > maxBytes || recent.has(sha256)) return;
    for (const [oldest, entry] of recent) {
      if (heldBytes + size <= maxBytes && now() - entry.at <= maxAgeMs) break;
      drop(oldest);
    }
    // Kept as they came: joining them cost more than the read it saves (fresh pages fault in).
    recent.set(sha256, { pieces, size, at: now() });
    heldBytes += size;
  };

  return {
    ...blobs,
    async put(data) {
      if (data instanceof Uint8Array) {
        const info = await blobs.put(data);
        keep(info.sha256, [data], data.length);
        return info;
      }
      const pieces: Uint8Array[] = [];
      let size = 0;
      const info = await blobs.put(
        (async function* () {
          for await (const piece of data) {
            size += piece.length;
            // Past the limit the body is not kept, but it still flows to the store.
            if (size <= maxBytes) pieces.push(piece);
            yield piece;
          }
        })(),
      );
      if (size <= maxBytes) keep(info.sha256, pieces, size);
      return info;
    },
    get(sha256, options) {
      const pieces = drop(sha256);
      return pieces ? fromMemory(pieces) : blobs.get(sha256, options);
    },
    async getBytes(sha256) {
      const pieces = drop(sha256);
      return pieces ? Buffer.concat(pieces) : blobs.getBytes(sha256);
    },
    async delete(sha256) {
      drop(sha256);
      return blobs.delete(sha256);
    },
    async close() {
      recent.clear();
      heldBytes = 0;
      await blobs.close();
    },
  };
}

async function* fromMemory(pieces: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* pieces;
}
