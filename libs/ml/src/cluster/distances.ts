import type { Matrix } from "../matrix.js";

/** Squared norms of the k rows of a row-major k × d matrix. */
export function rowNorms(centers: Float64Array, k: number, d: number): Float64Array {
  const out = new Float64Array(k);
  for (let c = 0; c < k; c++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += centers[c * d + j] ** 2;
    out[c] = s;
  }
  return out;
}

/** Squared distance from row r of X to centre c, by expanding ‖x‖² - 2x·c + ‖c‖² (clipped at 0). */
function squaredDistance(X: Matrix, r: number, xNorm: number, centers: Float64Array, c: number, cNorm: number): number {
  const d = X.cols;
  const x = r * d;
  const at = c * d;
  let dot = 0;
  for (let j = 0; j < d; j++) dot += X.data[x + j] * centers[at + j];
  return Math.max(0, xNorm - 2 * dot + cNorm);
}

/**
 * The nearest centre of each row (first on ties) and its squared distance; returns the inertia
 * (sum of squared distances). With `rows`, only those rows, and labels[j] is the label of rows[j].
 */
export function assignNearest(X: Matrix, centers: Float64Array, k: number, labels: Int32Array, nearest: Float64Array, rows?: Int32Array): number {
  const norms = rowNorms(centers, k, X.cols);
  const n = rows ? rows.length : X.rows;
  let inertia = 0;
  for (let j = 0; j < n; j++) {
    const r = rows ? rows[j] : j;
    const xNorm = rowNorm(X, r);
    let best = 0;
    let bestDistance = Infinity;
    for (let c = 0; c < k; c++) {
      const dist = squaredDistance(X, r, xNorm, centers, c, norms[c]);
      if (dist < bestDistance) [best, bestDistance] = [c, dist];
    }
    labels[j] = best;
    nearest[j] = bestDistance;
    inertia += bestDistance;
  }
  return inertia;
}

/** Euclidean distance of every row to every centre: rows × k. */
export function distancesTo(X: Matrix, centers: Float64Array, k: number): Float64Array {
  const norms = rowNorms(centers, k, X.cols);
  const out = new Float64Array(X.rows * k);
  for (let r = 0; r < X.rows; r++) {
    const xNorm = rowNorm(X, r);
    for (let c = 0; c < k; c++) out[r * k + c] = Math.sqrt(squaredDistance(X, r, xNorm, centers, c, norms[c]));
  }
  return out;
}

export function rowNorm(X: Matrix, r: number): number {
  let s = 0;
  for (let j = r * X.cols, end = j + X.cols; j < end; j++) s += X.data[j] * X.data[j];
  return s;
}
