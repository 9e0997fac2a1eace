import type { Matrix } from "../matrix.js";
import { addBlockGram } from "./gram-block.js";

/** XᵀX and Xᵀy of the (optionally centered) data, with what centering took out: the sufficient statistics of least squares. */
export interface NormalEquations {
  n: number;
  k: number;
  xMean: Float64Array;
  yMean: number;
  /** k × k, row-major, symmetric. */
  gram: Float64Array;
  xty: Float64Array;
  yty: number;
}

// Rows transposed at a time: the block (k × CHUNK doubles) stays in cache while every column pair is summed over it.
const CHUNK = 128;

/**
 * One pass over X. Centering keeps the intercept out of the solve and the Gram matrix well
 * conditioned; rather than a first pass for the means, rows are shifted by the mean of the
 * first block (close to the true mean, so no significant digits cancel) and the products
 * corrected at the end: Σ(x−μ)(x−μ)ᵀ = Σ(x−s)(x−s)ᵀ − n(μ−s)(μ−s)ᵀ. Each block of rows is
 * transposed, y as one more column, so that every entry of [X y]ᵀ[X y] is a contiguous dot
 * product, computed in register tiles (addBlockGram).
 */
export function normalEquations(m: Matrix, y: Float64Array, center: boolean): NormalEquations {
  const { rows: n, cols: k, data } = m;
  const w = k + 1;
  const shift = center ? blockMean(m, y) : new Float64Array(w);
  const sums = new Float64Array(w);
  const full = new Float64Array(w * w);
  const T = new Float64Array(w * CHUNK);
  let yty = 0;
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    for (let i = 0; i < len; i++) {
      const o = (start + i) * k;
      for (let j = 0; j < k; j++) T[j * CHUNK + i] = data[o + j] - shift[j];
      const t = y[start + i] - shift[k];
      T[k * CHUNK + i] = t;
      yty += t * t;
    }
    for (let j = 0; j < w; j++) for (let i = 0, o = j * CHUNK; i < len; i++) sums[j] += T[o + i];
    addBlockGram(full, w, T, CHUNK, len);
  }
  const offset = center ? sums.map((s) => s / n) : new Float64Array(w);
  const gram = new Float64Array(k * k);
  const xty = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) gram[a * k + b] = gram[b * k + a] = full[a * w + b] - n * offset[a] * offset[b];
    xty[a] = full[a * w + k] - n * offset[a] * offset[k];
  }
  yty -= n * offset[k] * offset[k];
  const xMean = center ? shift.subarray(0, k).map((s, j) => s + offset[j]) : new Float64Array(k);
  return { n, k, xMean, yMean: center ? shift[k] + offset[k] : 0, gram, xty, yty };
}

/** Column means of the first block of [X y]. */
function blockMean(m: Matrix, y: Float64Array): Float64Array {
  const { cols: k, data } = m;
  const len = Math.min(CHUNK, m.rows);
  const mean = new Float64Array(k + 1);
  for (let r = 0; r < len; r++) {
    for (let j = 0; j < k; j++) mean[j] += data[r * k + j];
    mean[k] += y[r];
  }
  return mean.map((s) => s / len);
}
