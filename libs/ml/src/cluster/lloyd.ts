import type { Matrix } from "../matrix.js";
import { distance2 } from "./hamerly.js";
import type { RowAssigner } from "./row-assigner.js";

export interface Clustering {
  centers: Float64Array;
  labels: Int32Array;
  inertia: number;
  nIter: number;
}

/**
 * Lloyd's iterations from the given centres until the total squared centre shift is at most
 * `tolerance` or maxIter is reached, then labels and inertia for the final centres, as sklearn
 * reports them. Assignments use Hamerly's bounds: a row whose distance to its centre cannot
 * exceed half the gap to that centre's nearest neighbour, nor its bound on the second-nearest,
 * keeps its centre without computing distances — the same assignments as plain Lloyd, far fewer distances.
 * `rows` does the assignments (reset here, so one serves every run of a fit).
 */
export function lloyd(X: Matrix, start: Float64Array, k: number, maxIter: number, tolerance: number, rows: RowAssigner): Clustering {
  const d = X.cols;
  let centers: Float64Array = Float64Array.from(start);
  // Per-cluster sums and counts, updated as rows change cluster rather than recomputed each iteration.
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  counts[0] = X.rows;
  for (let r = 0; r < X.rows; r++) for (let j = 0; j < d; j++) sums[j] += X.data[r * d + j];
  const tally = { sums, counts };
  rows.reset();
  let nIter = 0;
  // How far each centre moved since the rows' bounds were set; the next assignment loosens them first.
  let moved: Float64Array | null = null;
  while (nIter < maxIter) {
    rows.assign(centers, sums, counts, moved);
    const { next, relocated } = means(X, tally, rows.upper, k);
    nIter++;
    moved = new Float64Array(k);
    let shift = 0;
    for (let c = 0; c < k; c++) {
      moved[c] = Math.sqrt(distance2(next, c, centers, c, d));
      shift += moved[c] ** 2;
    }
    centers = next;
    if (relocated) {
      rows.upper.fill(Infinity);
      moved = null;
    }
    if (shift <= tolerance) break;
  }
  rows.assign(centers, sums, counts, moved);
  const labels = Int32Array.from(rows.labels);
  let inertia = 0;
  for (let r = 0; r < X.rows; r++) inertia += distance2(X.data, r, centers, labels[r], d);
  return { centers, labels, inertia, nIter };
}

/**
 * Centre of each cluster from the running sums. An empty cluster takes the row farthest from its
 * centre as sklearn relocates it, judged by the rows' upper bounds (exact for every row that was
 * just reassigned, which is most of the far ones).
 */
function means(X: Matrix, tally: { sums: Float64Array; counts: Float64Array }, upper: Float64Array, k: number): { next: Float64Array; relocated: boolean } {
  const d = X.cols;
  const next = new Float64Array(k * d);
  let relocated = false;
  const taken = new Set<number>();
  for (let c = 0; c < k; c++) {
    if (tally.counts[c] > 0) {
      for (let j = 0; j < d; j++) next[c * d + j] = tally.sums[c * d + j] / tally.counts[c];
      continue;
    }
    let far = -1;
    for (let r = 0; r < X.rows; r++) if (!taken.has(r) && (far < 0 || upper[r] > upper[far])) far = r;
    taken.add(far);
    next.set(X.data.subarray(far * d, (far + 1) * d), c * d);
    relocated = true;
  }
  return { next, relocated };
}

/**
 * sklearn's tolerance scale: tol × the mean variance of the features. Row by row with a
 * sum per column (each column's sum in the same order as a pass down it, without
 * striding through X once per column).
 */
export function scaledTolerance(X: Matrix, tol: number): number {
  const { rows, cols: d, data } = X;
  const means = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) means[j] += data[r * d + j];
  for (let j = 0; j < d; j++) means[j] /= rows;
  const variances = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < d; j++) {
      const v = data[r * d + j] - means[j];
      variances[j] += v * v; // not ** 2, which optimised code computes with pow
    }
  }
  let total = 0;
  for (let j = 0; j < d; j++) total += variances[j] / rows;
  return (tol * total) / d;
}
