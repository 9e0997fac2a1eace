/** How many values of a column its percentiles are computed from, at most. */
export const SAMPLE_SIZE = 65_536;

/**
 * A uniform sample of a stream of numbers (reservoir sampling, Algorithm R) with a seeded
 * generator, so the same data always gives the same profile.
 */
export class Reservoir {
  // Grown as values come (a wide table of short columns does not hold 512 KB per column).
  private values = new Float64Array(1024);
  private seen = 0;
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0 || 1;
  }

  add(x: number): void {
    if (this.seen < SAMPLE_SIZE) {
      if (this.seen === this.values.length) {
        const grown = new Float64Array(Math.min(SAMPLE_SIZE, this.values.length * 2));
        grown.set(this.values);
        this.values = grown;
      }
      this.values[this.seen] = x;
    } else {
      const j = Math.floor(this.random() * (this.seen + 1));
      if (j < SAMPLE_SIZE) this.values[j] = x;
    }
    this.seen++;
  }

  /** The values kept, sorted. */
  sorted(): Float64Array {
    return this.values.slice(0, Math.min(this.seen, SAMPLE_SIZE)).sort();
  }

  // mulberry32: small, fast, and good enough to pick sample slots.
  private random(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

/** The 0th to 100th percentiles of sorted values, interpolated linearly as numpy's default. */
export function percentilesOf(sorted: Float64Array): number[] {
  if (sorted.length === 0) return [];
  const out: number[] = [];
  for (let p = 0; p <= 100; p++) {
    const at = ((sorted.length - 1) * p) / 100;
    const lo = Math.floor(at);
    const hi = Math.min(lo + 1, sorted.length - 1);
    out.push(sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo));
  }
  return out;
}
