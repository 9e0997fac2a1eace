import type { InferenceSession } from "onnxruntime-node";
import { Lru } from "./lru.js";

/** onnxruntime could not create a session from the bytes. */
export class ModelLoadError extends Error {}

interface Entry {
  session: Promise<InferenceSession>;
  /** Runs in progress: an evicted session is released only once they are done. */
  active: number;
  evicted: boolean;
}

export const MISS = Symbol("miss");

/**
 * Sessions by model key, loaded once and shared by concurrent runs, the least recently used
 * released; pinned ones (models kept loaded to answer online requests) are never released
 * until unpinned, however many others come and go.
 */
export class SessionCache {
  private readonly entries: Lru<string, Entry>;
  private readonly pinned = new Map<string, Entry>();

  constructor(
    capacity: number,
    private readonly load: (bytes: Uint8Array) => Promise<InferenceSession>,
  ) {
    this.entries = new Lru(capacity, (_key, entry) => {
      entry.evicted = true;
      if (entry.active === 0) void release(entry);
    });
  }

  /** Runs `fn` on the key's session, loading it from `bytes` if needed (and pinning it with `pin`); MISS when neither is there. */
  async use<T>(key: string, bytes: Uint8Array | undefined, fn: (session: InferenceSession) => Promise<T>, pin = false): Promise<T | typeof MISS> {
    let entry = this.pinned.get(key) ?? this.entries.get(key);
    if (!entry) {
      if (!bytes) return MISS;
      entry = { session: this.load(bytes), active: 0, evicted: false };
      if (pin) this.pinned.set(key, entry);
      else this.entries.set(key, entry);
    } else if (pin && !this.pinned.has(key)) {
      this.entries.delete(key);
      this.pinned.set(key, entry);
    }
    entry.active++;
    try {
      let session: InferenceSession;
      try {
        session = await entry.session;
      } catch (err) {
        if (this.entries.peek(key) === entry) this.entries.delete(key);
        if (this.pinned.get(key) === entry) this.pinned.delete(key);
        throw new ModelLoadError((err as Error).message);
      }
      return await fn(session);
    } finally {
      entry.active--;
      if (entry.evicted && entry.active === 0) void release(entry);
    }
  }

  /** Lets the key's session go the way of the others again (least recently used first). */
  unpin(key: string): void {
    const entry = this.pinned.get(key);
    if (!entry) return;
    this.pinned.delete(key);
    this.entries.set(key, entry);
  }

  /** Releases every session, pinned or not, and forgets them; for a worker that is closing, with no run under way. */
  async releaseAll(): Promise<void> {
    const entries = [...this.pinned.values(), ...this.entries.takeAll()];
    this.pinned.clear();
    await Promise.all(entries.map(release));
  }

  /** Sessions kept now, pinned or not. */
  get size(): number {
    return this.pinned.size + this.entries.size;
  }
}

function release(entry: Entry): Promise<void> {
  return entry.session.then((s) => s.release()).catch(() => {});
}
