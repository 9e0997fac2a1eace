import { sharedBufferOf, type OnnxTensorMap } from "@kiln/onnx";

/**
 * Shared-memory buffers for a job's model inputs, reused from batch to batch. A feed in
 * shared memory reaches the ONNX worker without being copied and transferred on this
 * thread, and a million-row predict stops allocating its inputs anew for every batch
 * (16 MB a job for four float32 features, which the garbage collector then had to find).
 */
export class FeedBuffers {
  private readonly free: SharedArrayBuffer[] = [];

  /** Keeps at most `keep` buffers between uses. */
  constructor(private readonly keep: number) {}

  float32(length: number): Float32Array {
    return new Float32Array(this.take(length * 4), 0, length);
  }

  float64(length: number): Float64Array {
    return new Float64Array(this.take(length * 8), 0, length);
  }

  /** Hands back the buffers of feeds taken from here, once the run that read them has settled. */
  give(feeds: OnnxTensorMap): void {
    for (const { data } of Object.values(feeds)) {
      const buffer = sharedBufferOf(data);
      if (buffer && this.free.length < this.keep && !this.free.includes(buffer)) this.free.push(buffer);
    }
  }

  private take(bytes: number): SharedArrayBuffer {
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    return i >= 0 ? this.free.splice(i, 1)[0]! : new SharedArrayBuffer(bytes);
  }
}
