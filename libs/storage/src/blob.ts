/**
 * Content-addressed blob store: a blob's id is the lowercase hex sha256 of its bytes.
 * Puts and gets stream; nothing holds a whole blob in memory. Every get verifies the
 * digest while streaming and fails with KilnError DataLoss (reason BLOB_CORRUPT) at the
 * end if the bytes do not match.
 */
export interface BlobInfo {
  sha256: string;
  size: number;
}

export interface GetOptions {
  verify?: boolean;
}

export interface BlobStore {
  /** Stores the bytes; idempotent (the same bytes give the same id, stored once). */
  put(data: AsyncIterable<Uint8Array> | Uint8Array): Promise<BlobInfo>;
  /**
   * Streams the blob. NotFound (reason BLOB_NOT_FOUND) if missing. `verify: false`
   * skips the digest check, for readers that check it at their own end (an HTTP client
   * fetching a chunk by its sha256) so the bytes are not hashed twice.
   */
  get(sha256: string, options?: GetOptions): AsyncIterable<Uint8Array>;
  /** Reads a whole blob into memory (for small blobs only). */
  getBytes(sha256: string): Promise<Uint8Array>;
  stat(sha256: string): Promise<BlobInfo | undefined>;
  has(sha256: string): Promise<boolean>;
  /**
   * Where a stored blob's bytes lie on this machine, for stores that keep them as files
   * (so another local process can read them in place); absent for remote stores.
   */
  localPath?(sha256: string): string;
  /** Returns whether a blob was deleted. */
  delete(sha256: string): Promise<boolean>;
  close(): Promise<void>;
}
