import type { Matrix } from "../matrix.js";
import { centerDotsKernel, type CenterDotsKernel } from "../wasm/center-dots.js";
import { kernelMemory } from "../wasm/kernel-instance.js";

/** Squared norms of the k rows of a row-major k × d matrix. */
export function rowNorms(centers: Float64Array, k: number, d: number): Float64Array {
  const out = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) {
      const v = centers[c * d + j];
      s += v * v; // not ** 2, which optimised code computes with pow
    }
    out[c] = s;
  }
  return out;
}

// Rows copied into the SIMD kernel's memory at a time.
const SIMD_ROWS = 256;

/**
 * The nearest centre of each row (first on ties) and its squared distance; returns the inertia
 * (sum of squared distances). With `rows`, only those rows, and labels[j] is the label of rows[j].
 * The dot products go through WebAssembly SIMD where it runs: each lane sums in the same
 * order as squaredDistancesTo, so the answer is the same to the bit either way.
 */
export function assignNearest(X: Matrix, centers: Float64Array, k: number, labels: Int32Array, nearest: Float64Array, rows?: Int32Array): number {
  const kernel = centerDotsKernel();
  return kernel ? assignNearestSimd(kernel, X, centers, k, labels, nearest, rows) : assignNearestScalar(X, centers, k, labels, nearest, rows);
}

export function assignNearestScalar(X: Matrix, centers: Float64Array, k: number, labels: Int32Array, nearest: Float64Array, rows?: Int32Array): number {
  return nearestOf(null, X, centers, k, labels, nearest, rows);
}

export function assignNearestSimd(kernel: CenterDotsKernel, X: Matrix, centers: Float64Array, k: number, labels: Int32Array, nearest: Float64Array, rows?: Int32Array): number {
  return nearestOf(kernel, X, centers, k, labels, nearest, rows);
}

function nearestOf(kernel: CenterDotsKernel | null, X: Matrix, centers: Float64Array, k: number, labels: Int32Array, nearest: Float64Array, rows?: Int32Array): number {
  let inertia = 0;
  eachBlockDistances(kernel, X, centers, k, rows, (start, len, toCenters) => {
    for (let j = 0; j < len; j++) {
      let best = 0;
      let bestDistance = Infinity;
      for (let c = 0; c < k; c++) {
        const distance = toCenters[j * k + c];
        if (distance < bestDistance) {
          best = c;
          bestDistance = distance;
        }
      }
      labels[start + j] = best;
      nearest[start + j] = bestDistance;
      inertia += bestDistance;
    }
  });
  return inertia;
}

/** Squared distances of each row (rows[j] with `rows`) to the k centres, into out[j·k + c]. */
export function squaredDistances(X: Matrix, centers: Float64Array, k: number, out: Float64Array, rows?: Int32Array): Float64Array {
  eachBlockDistances(centerDotsKernel(), X, centers, k, rows, (start, len, toCenters) => out.set(toCenters.subarray(0, len * k), start * k));
  return out;
}

/**
 * Calls `each` with blocks of rows in order: the block's first row j, its length, and its
 * rows' squared distances to the k centres (row j + i's at [i·k, i·k + k); rows[j + i]
 * with `rows`), in an array that is reused. A call per block, not per row: the callers'
 * loops stay in their own code, where V8 optimises them. With the kernel, rows are copied
 * a block at a time into its memory beside the centres; without, JavaScript computes the
 * same values.
 */
function eachBlockDistances(
  kernel: CenterDotsKernel | null,
  X: Matrix,
  centers: Float64Array,
  k: number,
  rows: Int32Array | undefined,
  each: (start: number, len: number, toCenters: Float64Array) => void,
): void {
  const d = X.cols;
  const cNorms = rowNorms(centers, k, d);
  const block = new Float64Array(SIMD_ROWS * k);
  const n = rows ? rows.length : X.rows;
  if (!kernel) {
    const transposed = transposeInEights(centers, k, d, new Float64Array(transposedSize(k, d)));
    const toCenters = new Float64Array(k);
    for (let start = 0; start < n; start += SIMD_ROWS) {
      const len = Math.min(SIMD_ROWS, n - start);
      for (let j = 0; j < len; j++) {
        const r = rows ? rows[start + j] : start + j;
        squaredDistancesTo(X.data, r * d, rowNorm(X, r), transposed, cNorms, k, d, toCenters);
        block.set(toCenters, j * k);
      }
      each(start, len, block);
    }
    return;
  }
  const groups = Math.ceil(k / 8);
  // In f64: the centres in eights, then a block of rows, its dot products and its norms.
  const blockAt = transposedSize(k, d);
  const dotsAt = blockAt + SIMD_ROWS * d;
  const normsAt = dotsAt + SIMD_ROWS * groups * 8;
  const memory = kernelMemory(kernel.memory, (normsAt + SIMD_ROWS) * 8);
  transposeInEights(centers, k, d, memory.subarray(0, blockAt));
  for (let start = 0; start < n; start += SIMD_ROWS) {
    const len = Math.min(SIMD_ROWS, n - start);
    if (rows) {
      for (let j = 0; j < len; j++) memory.set(X.data.subarray(rows[start + j] * d, (rows[start + j] + 1) * d), blockAt + j * d);
    } else {
      memory.set(X.data.subarray(start * d, (start + len) * d), blockAt);
    }
    kernel.dots(blockAt * 8, len, d, 0, groups, dotsAt * 8, normsAt * 8);
    for (let j = 0; j < len; j++) {
      const xNorm = memory[normsAt + j];
      const dots = dotsAt + j * groups * 8;
      for (let c = 0; c < k; c++) block[j * k + c] = Math.max(0, xNorm - 2 * memory[dots + c] + cNorms[c]);
    }
    each(start, len, block);
  }
}

/** Euclidean distance of every row to every centre: rows × k. */
export function distancesTo(X: Matrix, centers: Float64Array, k: number): Float64Array {
  const out = squaredDistances(X, centers, k, new Float64Array(X.rows * k));
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(out[i]);
  return out;
}

/** Length of the buffer transposeInEights fills. */
export function transposedSize(k: number, d: number): number {
  return Math.ceil(k / 8) * d * 8;
}

/** The k × d centres into `out` in groups of eight, feature-major (see squaredDistancesTo); returns out. */
export function transposeInEights(centers: Float64Array, k: number, d: number, out: Float64Array): Float64Array {
  out.fill(0);
  for (let c = 0; c < k; c++) {
    const g = c >> 3;
    for (let t = 0; t < d; t++) out[(g * d + t) * 8 + (c & 7)] = centers[c * d + t];
  }
  return out;
}

/**
 * Squared distances from the row at data[x, x + d) to every centre, as ‖x‖² − 2x·c + ‖c‖²
 * (clipped at 0), eight centres per pass over the row so each of its values is loaded once.
 * `transposed` holds the centres in groups of eight, feature-major: group g, feature t,
 * centre i at (g·d + t)·8 + i (zero past the last centre), so a pass reads it in order.
 */
export function squaredDistancesTo(data: Float64Array, x: number, xNorm: number, transposed: Float64Array, cNorms: Float64Array, k: number, d: number, out: Float64Array): void {
  const full = k >> 3;
  for (let g = 0; g < full; g++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    for (let t = 0, at = g * d * 8; t < d; t++, at += 8) {
      const v = data[x + t];
      s0 += v * transposed[at];
      s1 += v * transposed[at + 1];
      s2 += v * transposed[at + 2];
      s3 += v * transposed[at + 3];
      s4 += v * transposed[at + 4];
      s5 += v * transposed[at + 5];
      s6 += v * transposed[at + 6];
      s7 += v * transposed[at + 7];
    }
    const c = g * 8;
    out[c] = Math.max(0, xNorm - 2 * s0 + cNorms[c]);
    out[c + 1] = Math.max(0, xNorm - 2 * s1 + cNorms[c + 1]);
    out[c + 2] = Math.max(0, xNorm - 2 * s2 + cNorms[c + 2]);
    out[c + 3] = Math.max(0, xNorm - 2 * s3 + cNorms[c + 3]);
    out[c + 4] = Math.max(0, xNorm - 2 * s4 + cNorms[c + 4]);
    out[c + 5] = Math.max(0, xNorm - 2 * s5 + cNorms[c + 5]);
    out[c + 6] = Math.max(0, xNorm - 2 * s6 + cNorms[c + 6]);
    out[c + 7] = Math.max(0, xNorm - 2 * s7 + cNorms[c + 7]);
  }
  // The last k % 8 centres one at a time: eight sums for two or three centres would waste the products.
  for (let c = full * 8; c < k; c++) {
    let s = 0;
    for (let t = 0, at = full * d * 8 + (c & 7); t < d; t++, at += 8) s += data[x + t] * transposed[at];
    out[c] = Math.max(0, xNorm - 2 * s + cNorms[c]);
  }
}

export function rowNorm(X: Matrix, r: number): number {
  let s = 0;
  for (let j = r * X.cols, end = j + X.cols; j < end; j++) s += X.data[j] * X.data[j];
  return s;
}
