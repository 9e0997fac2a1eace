import type { Matrix } from "../matrix.js";
import { gramKernel, type GramKernel } from "../wasm/gram-rows.js";
import { kernelMemory } from "../wasm/kernel-instance.js";
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
// Rows copied into the SIMD kernel's memory at a time.
const SIMD_ROWS = 256;

/** [X y] − shift: the upper triangle of its Gram matrix (w × w, w = k + 1) and its column sums. */
interface ShiftedMoments {
  full: Float64Array;
  sums: Float64Array;
}

/**
 * One pass over X. Centering keeps the intercept out of the solve and the Gram matrix well
 * conditioned; rather than a first pass for the means, rows are shifted by the mean of the
 * first block (close to the true mean, so no significant digits cancel) and the products
 * corrected at the end: Σ(x−μ)(x−μ)ᵀ = Σ(x−s)(x−s)ᵀ − n(μ−s)(μ−s)ᵀ. The products are summed
 * by WebAssembly SIMD where it runs (simdMoments), else in JavaScript register tiles.
 */
export function normalEquations(m: Matrix, y: Float64Array, center: boolean): NormalEquations {
  const { rows: n, cols: k } = m;
  const w = k + 1;
  const shift = center ? blockMean(m, y) : new Float64Array(w);
  const kernel = gramKernel();
  const { full, sums } = kernel ? simdMoments(kernel, m, y, shift) : scalarMoments(m, y, shift);
  const offset = center ? sums.map((s) => s / n) : new Float64Array(w);
  const gram = new Float64Array(k * k);
  const xty = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) gram[a * k + b] = gram[b * k + a] = full[a * w + b] - n * offset[a] * offset[b];
    xty[a] = full[a * w + k] - n * offset[a] * offset[k];
  }
  const yty = full[k * w + k] - n * offset[k] * offset[k];
  const xMean = center ? shift.subarray(0, k).map((s, j) => s + offset[j]) : new Float64Array(k);
  return { n, k, xMean, yMean: center ? shift[k] + offset[k] : 0, gram, xty, yty };
}

/**
 * Blocks of rows go into the kernel's memory as [x − s, y − s_y, 1, 0…] (width a multiple
 * of 4): a sequential copy, where transposing for JavaScript tiles cost as much as the
 * products. The column of ones makes the Gram matrix carry the column sums too.
 */
export function simdMoments(kernel: GramKernel, m: Matrix, y: Float64Array, shift: Float64Array): ShiftedMoments {
  const { rows: n, cols: k, data } = m;
  const w = k + 1;
  const width = Math.ceil((w + 1) / 4) * 4;
  const blockAt = width * width; // in f64: G first, then the block
  const memory = kernelMemory(kernel.memory, (blockAt + SIMD_ROWS * width) * 8);
  memory.fill(0, 0, blockAt + SIMD_ROWS * width);
  for (let start = 0; start < n; start += SIMD_ROWS) {
    const len = Math.min(SIMD_ROWS, n - start);
    for (let r = 0; r < len; r++) {
      const to = blockAt + r * width;
      const from = (start + r) * k;
      for (let j = 0; j < k; j++) memory[to + j] = data[from + j] - shift[j];
      memory[to + k] = y[start + r] - shift[k];
      memory[to + w] = 1;
    }
    kernel.gram(blockAt * 8, len, width, 0);
  }
  const full = new Float64Array(w * w);
  const sums = new Float64Array(w);
  for (let a = 0; a < w; a++) {
    for (let b = a; b < w; b++) full[a * w + b] = memory[a * width + b];
    sums[a] = memory[a * width + w];
  }
  return { full, sums };
}

/** Each block of rows is transposed, y as one more column, so that every entry is a contiguous dot product (addBlockGram). */
export function scalarMoments(m: Matrix, y: Float64Array, shift: Float64Array): ShiftedMoments {
  const { rows: n, cols: k, data } = m;
  const w = k + 1;
  const sums = new Float64Array(w);
  const full = new Float64Array(w * w);
  const T = new Float64Array(w * CHUNK);
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    for (let i = 0; i < len; i++) {
      const o = (start + i) * k;
      for (let j = 0; j < k; j++) T[j * CHUNK + i] = data[o + j] - shift[j];
      T[k * CHUNK + i] = y[start + i] - shift[k];
    }
    for (let j = 0; j < w; j++) for (let i = 0, o = j * CHUNK; i < len; i++) sums[j] += T[o + i];
    addBlockGram(full, w, T, CHUNK, len);
  }
  return { full, sums };
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
