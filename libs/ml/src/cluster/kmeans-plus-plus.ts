import type { Matrix } from "../matrix.js";
import type { Random } from "../random.js";
import { squaredDistances } from "./distances.js";

/**
 * Greedy k-means++ as sklearn does it: each new centre is the best of 2 + ⌊ln k⌋ candidates drawn
 * with probability proportional to the squared distance to the nearest centre so far. The
 * candidates' distances to every row come in one pass (SIMD where it runs), as sklearn
 * takes them from one call into BLAS, in its form ‖x‖² − 2x·c + ‖c‖². Over `rows` of X,
 * or all of it (its rows then go to the kernel a block at a time rather than one by one).
 */
export function kmeansPlusPlus(X: Matrix, k: number, random: Random, rows?: Int32Array): Float64Array {
  const d = X.cols;
  const n = rows ? rows.length : X.rows;
  const rowAt = (j: number) => (rows ? rows[j] : j);
  const centers = new Float64Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const first = rowAt(random.int(n));
  centers.set(rowOf(X, first), 0);
  const closest = squaredDistances(X, rowOf(X, first), 1, new Float64Array(n), rows);
  let potential = 0;
  for (let j = 0; j < n; j++) potential += closest[j];
  const candidates = new Float64Array(trials * d);
  const toCandidates = new Float64Array(n * trials);
  const sums = new Float64Array(trials);
  for (let c = 1; c < k; c++) {
    const picked = Array.from({ length: trials }, () => rowAt(pick(closest, potential, random)));
    picked.forEach((row, t) => candidates.set(rowOf(X, row), t * d));
    squaredDistances(X, candidates, trials, toCandidates, rows);
    sums.fill(0);
    for (let j = 0; j < n; j++) for (let t = 0; t < trials; t++) sums[t] += Math.min(closest[j], toCandidates[j * trials + t]);
    let best = 0;
    for (let t = 1; t < trials; t++) if (sums[t] < sums[best]) best = t;
    centers.set(rowOf(X, picked[best]), c * d);
    for (let j = 0; j < n; j++) closest[j] = Math.min(closest[j], toCandidates[j * trials + best]);
    potential = sums[best];
  }
  return centers;
}

/** k distinct rows at random (sklearn's init="random"). */
export function randomRows(X: Matrix, k: number, random: Random, rows: Int32Array): Float64Array {
  const d = X.cols;
  const order = random.permutation(rows.length);
  const centers = new Float64Array(k * d);
  for (let c = 0; c < k; c++) centers.set(X.data.subarray(rows[order[c]] * d, (rows[order[c]] + 1) * d), c * d);
  return centers;
}

function rowOf(X: Matrix, r: number): Float64Array {
  return X.data.subarray(r * X.cols, (r + 1) * X.cols);
}

function pick(weights: Float64Array, total: number, random: Random): number {
  if (!(total > 0)) return random.int(weights.length);
  let target = random.next() * total;
  for (let j = 0; j < weights.length; j++) {
    target -= weights[j];
    if (target < 0) return j;
  }
  return weights.length - 1;
}
