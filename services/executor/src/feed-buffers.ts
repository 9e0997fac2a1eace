import { BufferPool, isColumnsFeed, sharedBufferOf, type OnnxFeeds } from "@kiln/onnx";

/**
 * Shared-memory buffers for model inputs, reused from batch to batch and job to job. A feed
 * in shared memory reaches the ONNX worker without being copied and transferred on this
 * thread, and a million-row predict stops allocating its inputs anew for every batch
 * (16 MB a job for four float32 features, which the garbage collector then had to find).
 */
export class FeedBuffers {
  private readonly pool: BufferPool<SharedArrayBuffer>;
  /** Buffers handed out and not yet given back: only those return to the pool. */
  private readonly lent = new WeakSet<SharedArrayBuffer>();

  /** Keeps at most `keep` buffers and `keepBytes` bytes between uses. */
  constructor(keep: number, keepBytes?: number) {
    this.pool = new BufferPool((bytes) => new SharedArrayBuffer(bytes), keep, keepBytes);
  }

  float32(length: number): Float32Array {
    return new Float32Array(this.lend(length * 4), 0, length);
  }

  float64(length: number): Float64Array {
    return new Float64Array(this.lend(length * 8), 0, length);
  }

  /** Hands back the buffers of feeds taken from here, once the run that read them has settled; other feeds' memory is left alone. */
  give(feeds: OnnxFeeds): void {
    for (const feed of Object.values(feeds)) {
      const buffer = isColumnsFeed(feed) ? undefined : sharedBufferOf(feed.data);
      if (buffer && this.lent.delete(buffer)) this.pool.give(buffer);
    }
  }

  private lend(bytes: number): SharedArrayBuffer {
    const buffer = this.pool.take(bytes);
    this.lent.add(buffer);
    return buffer;
  }
}
