import type { Matrix } from "../matrix.js";
import type { Random } from "../random.js";
import { distance2 } from "./hamerly.js";

/**
 * Greedy k-means++ as sklearn does it: each new centre is the best of 2 + ⌊ln k⌋ candidates drawn
 * with probability proportional to the squared distance to the nearest centre so far.
 */
export function kmeansPlusPlus(X: Matrix, k: number, random: Random, rows: Int32Array): Float64Array {
  const d = X.cols;
  const n = rows.length;
  const centers = new Float64Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const closest = new Float64Array(n);
  const candidate = new Float64Array(n);
  const best = new Float64Array(n);
  const first = rows[random.int(n)];
  centers.set(X.data.subarray(first * d, (first + 1) * d), 0);
  let potential = 0;
  for (let j = 0; j < n; j++) potential += closest[j] = squaredTo(X, rows[j], X, first);
  for (let c = 1; c < k; c++) {
    let bestRow = -1;
    let bestPotential = Infinity;
    for (let t = 0; t < trials; t++) {
      const row = rows[pick(closest, potential, random)];
      let sum = 0;
      for (let j = 0; j < n; j++) sum += candidate[j] = Math.min(closest[j], squaredTo(X, rows[j], X, row));
      if (sum < bestPotential) {
        [bestRow, bestPotential] = [row, sum];
        best.set(candidate);
      }
    }
    centers.set(X.data.subarray(bestRow * d, (bestRow + 1) * d), c * d);
    closest.set(best);
    potential = bestPotential;
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

function squaredTo(X: Matrix, r: number, Y: Matrix, s: number): number {
  return distance2(X.data, r, Y.data, s, X.cols);
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
