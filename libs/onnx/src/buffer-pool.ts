/**
 * Buffers kept between uses, so that work done batch after batch (model inputs, their copies
 * in a worker) writes into memory already mapped instead of fresh pages: the kernel zeroing
 * new pages cost ~5 ms of a million-row predict on each thread that allocated them.
 */
export class BufferPool<B extends ArrayBufferLike> {
  private readonly free: B[] = [];
  private freeBytes = 0;

  /** Keeps at most `keep` buffers and `keepBytes` bytes between uses. */
  constructor(
    private readonly allocate: (bytes: number) => B,
    private readonly keep: number,
    private readonly keepBytes = Infinity,
  ) {}

  /** A buffer of at least `bytes` bytes, the smallest kept one that fits or a new one. */
  take(bytes: number): B {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      const size = this.free[i]!.byteLength;
      if (size >= bytes && (best < 0 || size < this.free[best]!.byteLength)) best = i;
    }
    if (best < 0) return this.allocate(bytes);
    const [buffer] = this.free.splice(best, 1);
    this.freeBytes -= buffer!.byteLength;
    return buffer!;
  }

  /** Hands a buffer back once nothing reads or writes it any more. */
  give(buffer: B): void {
    if (buffer.byteLength === 0 || this.free.includes(buffer)) return; // empty, or detached by a transfer
    if (this.free.length >= this.keep || this.freeBytes + buffer.byteLength > this.keepBytes) return;
    this.free.push(buffer);
    this.freeBytes += buffer.byteLength;
  }
}
