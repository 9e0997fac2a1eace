import type { BlobStore } from "./blob.js";

export interface RecentPutsOptions {
  /** At most this many bytes are kept; the oldest go first (default 32 MiB). */
  maxBytes?: number;
  /** Kept at most this long (default 60 s). */
  maxAgeMs?: number;
  now?: () => number;
}

/** A blob store that can hand back the bytes of a blob it stored moments ago. */
export interface RecentPuts extends BlobStore {
  /**
   * Passes a recently put blob's bytes to `read`, piece by piece, if they are still held
   * (then forgets them) and returns true; false if not (read the store instead). The
   * pieces are valid only during the call: their memory holds the next puts afterwards.
   */
  readRecent(sha256: string, read: (piece: Uint8Array) => void): boolean;
}

/** Held bytes are copied into slabs of this size, reused from put to put. */
const SLAB_BYTES = 1024 * 1024;

/**
 * A blob store that keeps copies of its most recent puts in memory until they are read
 * once (readRecent). Uploads by reference PUT a chunk and then name it in a stream that
 * reads it back for the file's digest; on ext4 a read of a just-synced file waits while
 * other chunks are being synced (5–200 ms a 4 MiB chunk here). Bytes came in through
 * put, which hashed them, so a hit needs no verification.
 *
 * The copies go into slabs that are reused, not into fresh memory: request bodies kept
 * alive until the stream reads them reached V8's old space, and every 64 MB of them cost
 * a full garbage collection (4–6 per 100 MB upload, a quarter of the server's CPU).
 * Copied, the request's own buffers die young. Reads other than readRecent go to the store.
 */
export function withRecentPuts(blobs: BlobStore, options: RecentPutsOptions = {}): RecentPuts {
  const maxBytes = options.maxBytes ?? 32 * 1024 * 1024;
  const maxAgeMs = options.maxAgeMs ?? 60_000;
  const now = options.now ?? Date.now;
  const freeSlabs: Uint8Array[] = [];
  const recent = new Map<string, { copy: SlabCopy; at: number }>(); // insertion order = age
  let heldBytes = 0;

  const release = (copy: SlabCopy) => {
    // Never more spare than the most ever held: memory stays at its high-water mark.
    for (const slab of copy.slabs) if (freeSlabs.length * SLAB_BYTES < maxBytes) freeSlabs.push(slab);
    copy.slabs = [];
  };
  const drop = (sha256: string) => {
    const entry = recent.get(sha256);
    if (!entry) return undefined;
    recent.delete(sha256);
    heldBytes -= entry.copy.size;
    return entry.copy;
  };
  const keep = (sha256: string, copy: SlabCopy) => {
    if (recent.has(sha256)) return release(copy);
    for (const [oldest, entry] of recent) {
      if (heldBytes + copy.size <= maxBytes && now() - entry.at <= maxAgeMs) break;
      release(drop(oldest)!);
    }
    recent.set(sha256, { copy, at: now() });
    heldBytes += copy.size;
  };

  return {
    ...blobs,
    async put(data) {
      const copy = new SlabCopy(freeSlabs);
      if (data instanceof Uint8Array) copy.append(data, maxBytes);
      let info;
      try {
        info = await blobs.put(data instanceof Uint8Array ? data : copying(data, copy, maxBytes));
      } catch (e) {
        release(copy);
        throw e;
      }
      if (copy.complete) keep(info.sha256, copy);
      else release(copy);
      return info;
    },
    readRecent(sha256, read) {
      const copy = drop(sha256);
      if (!copy) return false;
      try {
        copy.forEach(read);
      } finally {
        release(copy);
      }
      return true;
    },
    async delete(sha256) {
      const copy = drop(sha256);
      if (copy) release(copy);
      return blobs.delete(sha256);
    },
    async close() {
      recent.clear();
      heldBytes = 0;
      freeSlabs.length = 0;
      await blobs.close();
    },
  };
}

/** The pieces as they come, copied on the way; past the limit nothing is kept, but the body still flows. */
async function* copying(data: AsyncIterable<Uint8Array>, copy: SlabCopy, limit: number): AsyncGenerator<Uint8Array> {
  for await (const piece of data) {
    copy.append(piece, limit);
    yield piece;
  }
}

/** Bytes copied end to end into slabs taken from (and later given back to) a free list. */
class SlabCopy {
  slabs: Uint8Array[] = [];
  size = 0;
  /** False once the bytes outgrew the limit (what was copied is then useless). */
  complete = true;

  constructor(private readonly free: Uint8Array[]) {}

  append(piece: Uint8Array, limit: number): void {
    if (!this.complete) return;
    if (this.size + piece.length > limit) {
      this.complete = false;
      return;
    }
    let from = 0;
    while (from < piece.length) {
      const used = this.size % SLAB_BYTES;
      if (used === 0) this.slabs.push(this.free.pop() ?? new Uint8Array(SLAB_BYTES));
      const n = Math.min(SLAB_BYTES - used, piece.length - from);
      this.slabs[this.slabs.length - 1]!.set(piece.subarray(from, from + n), used);
      from += n;
      this.size += n;
    }
  }

  forEach(read: (piece: Uint8Array) => void): void {
    let left = this.size;
    for (const slab of this.slabs) {
      const n = Math.min(SLAB_BYTES, left);
      if (n > 0) read(slab.subarray(0, n));
      left -= n;
    }
  }
}
