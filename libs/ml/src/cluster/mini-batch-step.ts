import type { Matrix } from "../matrix.js";
import type { Random } from "../random.js";
import { assignNearest } from "./distances.js";

/**
 * One mini-batch update (sklearn's _mini_batch_step): each centre moves to the weighted mean of
 * itself (weighted by the rows it has absorbed so far, `counts`) and its rows in the batch.
 * Centres that absorbed far fewer rows than the busiest are sometimes moved to random batch rows,
 * so a bad start does not leave a centre stranded. Returns the batch inertia (before the update).
 */
export function miniBatchStep(
  X: Matrix,
  rows: Int32Array,
  centers: Float64Array,
  counts: Float64Array,
  k: number,
  reassign: { ratio: number; random: Random } | null,
): number {
  const d = X.cols;
  const labels = new Int32Array(rows.length);
  const inertia = assignNearest(X, centers, k, labels, new Float64Array(rows.length), rows);
  const sums = new Float64Array(k * d);
  const batchCounts = new Float64Array(k);
  const data = X.data;
  for (let i = 0; i < rows.length; i++) {
    const from = rows[i] * d;
    const to = labels[i] * d;
    batchCounts[labels[i]]++;
    for (let j = 0; j < d; j++) sums[to + j] += data[from + j];
  }
  for (let c = 0; c < k; c++) {
    if (batchCounts[c] === 0) continue;
    const total = counts[c] + batchCounts[c];
    for (let j = 0; j < d; j++) centers[c * d + j] = (centers[c * d + j] * counts[c] + sums[c * d + j]) / total;
    counts[c] = total;
  }
  if (reassign) reassignSparse(X, rows, centers, counts, k, reassign.ratio, reassign.random);
  return inertia;
}

function reassignSparse(X: Matrix, rows: Int32Array, centers: Float64Array, counts: Float64Array, k: number, ratio: number, random: Random): void {
  const d = X.cols;
  const most = Math.max(...counts);
  const sparse: number[] = [];
  for (let c = 0; c < k; c++) if (counts[c] < ratio * most) sparse.push(c);
  if (sparse.length === 0 || sparse.length === k) return;
  let least = Infinity;
  for (let c = 0; c < k; c++) if (counts[c] >= ratio * most) least = Math.min(least, counts[c]);
  for (const c of sparse) {
    const r = rows[random.int(rows.length)];
    centers.set(X.data.subarray(r * d, (r + 1) * d), c * d);
    counts[c] = least;
  }
}
