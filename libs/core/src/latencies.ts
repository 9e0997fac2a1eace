/** The last `size` durations, for their median and 99th percentile. */
export class Latencies {
  private readonly ms: Float64Array;
  private count = 0;

  constructor(size = 1_000) {
    this.ms = new Float64Array(size);
  }

  add(ms: number): void {
    this.ms[this.count++ % this.ms.length] = ms;
  }

  /** The q-quantile (0 to 1) of what was added, nearest rank; 0 before anything was. */
  quantile(q: number): number {
    const n = Math.min(this.count, this.ms.length);
    if (n === 0) return 0;
    const sorted = this.ms.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
  }
}
