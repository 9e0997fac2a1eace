/**
 * Metadata store: named collections of JSON documents keyed by string, each with a
 * revision for optimistic concurrency. Services build everything on four atomic
 * primitives: create-if-absent, compare-and-set update, delete, ordered key scans.
 * Keys are resource names (e.g. "projects/default/datasets/iris/versions/0000000003"),
 * so a prefix scan lists children in order.
 */
export interface Stored<T> {
  key: string;
  /** Starts at 1 on create, +1 on every update. */
  rev: number;
  value: T;
}

export interface ListOptions {
  /** Only keys starting with this prefix. */
  prefix?: string;
  /** Only keys strictly after this one (strictly before it when reverse). */
  after?: string;
  /** Descending key order. */
  reverse?: boolean;
  /** At most this many rows (default: all). */
  limit?: number;
}

/** One compare-and-set of `updateMany`. */
export interface Replacement<T> {
  key: string;
  value: T;
  expectedRev: number;
}

export interface Collection<T> {
  get(key: string): Promise<Stored<T> | undefined>;
  /** The documents of these keys in the same order, undefined where a key is missing. */
  getMany(keys: readonly string[]): Promise<(Stored<T> | undefined)[]>;
  /** Throws KilnError AlreadyExists (reason ALREADY_EXISTS) if the key exists. */
  create(key: string, value: T): Promise<Stored<T>>;
  /**
   * Replaces the value if the stored rev equals expectedRev. Throws Aborted (reason
   * REVISION_CONFLICT) on a rev mismatch, NotFound (reason NOT_FOUND) if missing.
   */
  update(key: string, value: T, expectedRev: number): Promise<Stored<T>>;
  /**
   * Creates every key, all or none: AlreadyExists (reason ALREADY_EXISTS) naming the
   * first key that exists, and nothing stays created.
   */
  createMany(items: readonly { key: string; value: T }[]): Promise<Stored<T>[]>;
  /**
   * A compare-and-set per item, each on its own (a stale one does not stop the others);
   * per item, in order: the new document, "conflict" (rev mismatch) or "missing".
   */
  updateMany(items: readonly Replacement<T>[]): Promise<(Stored<T> | "conflict" | "missing")[]>;
  /** Deletes the key (only at expectedRev if given). Returns whether a row was deleted. */
  delete(key: string, expectedRev?: number): Promise<boolean>;
  /** Deletes every key with the prefix; returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  list(options?: ListOptions): Promise<Stored<T>[]>;
  count(prefix?: string): Promise<number>;
}

export interface MetadataStore {
  /** Collection names: lowercase letters, digits and underscores. */
  collection<T>(name: string): Collection<T>;
  close(): Promise<void>;
}
