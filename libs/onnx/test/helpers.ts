/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so failures reproduce. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(seed: number, length: number): Uint8Array {
  const next = seededRandom(seed);
  return Uint8Array.from({ length }, () => Math.floor(next() * 256));
}

/** Rows of `k` features as a row-major float32 matrix, values in [-2, 2). */
export function randomRows(seed: number, n: number, k: number): { rows: number[][]; data: Float32Array } {
  const next = seededRandom(seed);
  const data = Float32Array.from({ length: n * k }, () => next() * 4 - 2);
  const rows = Array.from({ length: n }, (_, i) => Array.from(data.subarray(i * k, (i + 1) * k)));
  return { rows, data };
}

export function dot(row: number[], coef: number[]): number {
  return row.reduce((sum, x, j) => sum + x * coef[j], 0);
}

export function expectRelativelyClose(actual: number, expected: number, tolerance = 1e-5): void {
  const error = Math.abs(actual - expected) / Math.max(1, Math.abs(expected));
  if (!(error <= tolerance)) throw new Error(`${actual} is not within ${tolerance} (relative) of ${expected}`);
}
