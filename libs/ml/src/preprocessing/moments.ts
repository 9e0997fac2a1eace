import type { Matrix } from "../matrix.js";

/** Per-column count, mean and population variance. */
export interface Moments {
  n: number;
  mean: Float64Array;
  variance: Float64Array;
}

/** Two passes (mean, then squared deviations): no cancellation from summing squares. */
export function momentsOf(m: Matrix): Moments {
  const { rows: n, cols: k, data } = m;
  const mean = new Float64Array(k);
  const variance = new Float64Array(k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) mean[j] += data[r * k + j];
  for (let j = 0; j < k; j++) mean[j] /= n;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) {
      const d = data[r * k + j] - mean[j];
      variance[j] += d * d;
    }
  }
  for (let j = 0; j < k; j++) variance[j] /= n;
  return { n, mean, variance };
}

/** Chan, Golub & LeVeque's pairwise update: the moments of two batches together, exactly as of one. */
export function mergeMoments(a: Moments, b: Moments): Moments {
  const n = a.n + b.n;
  const mean = new Float64Array(a.mean.length);
  const variance = new Float64Array(a.mean.length);
  for (let j = 0; j < mean.length; j++) {
    const delta = b.mean[j] - a.mean[j];
    mean[j] = a.mean[j] + (delta * b.n) / n;
    const m2 = a.variance[j] * a.n + b.variance[j] * b.n + (delta * delta * a.n * b.n) / n;
    variance[j] = m2 / n;
  }
  return { n, mean, variance };
}
