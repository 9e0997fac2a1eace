import type { Matrix } from "../matrix.js";
import { rowNorms } from "./distances.js";

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
 */
export function lloyd(X: Matrix, start: Float64Array, k: number, maxIter: number, tolerance: number): Clustering {
  const d = X.cols;
  let centers: Float64Array = Float64Array.from(start);
  const labels = new Int32Array(X.rows);
  const upper = new Float64Array(X.rows).fill(Infinity);
  const lower = new Float64Array(X.rows);
  const halfGap = new Float64Array(k);
  // Per-cluster sums and counts, updated as rows change cluster rather than recomputed each iteration.
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  counts[0] = X.rows;
  for (let r = 0; r < X.rows; r++) for (let j = 0; j < d; j++) sums[j] += X.data[r * d + j];
  const tally = { sums, counts };
  const xNorms = rowNorms(X.data, X.rows, d);
  let nIter = 0;
  while (nIter < maxIter) {
    assign(X, xNorms, centers, k, labels, upper, lower, halfGap, tally);
    const { next, relocated } = means(X, tally, upper, k);
    nIter++;
    const moved = new Float64Array(k);
    let shift = 0;
    for (let c = 0; c < k; c++) {
      moved[c] = Math.sqrt(distance2(next, c, centers, c, d));
      shift += moved[c] ** 2;
    }
    centers = next;
    if (relocated) upper.fill(Infinity);
    else loosen(labels, upper, lower, moved);
    if (shift <= tolerance) break;
  }
  assign(X, xNorms, centers, k, labels, upper, lower, halfGap, tally);
  let inertia = 0;
  for (let r = 0; r < X.rows; r++) inertia += distance2(X.data, r, centers, labels[r], d);
  return { centers, labels, inertia, nIter };
}

/** Hamerly's assignment step: upper[r] ≥ distance to labels[r]'s centre, lower[r] ≤ distance to any other. */
function assign(
  X: Matrix,
  xNorms: Float64Array,
  centers: Float64Array,
  k: number,
  labels: Int32Array,
  upper: Float64Array,
  lower: Float64Array,
  halfGap: Float64Array,
  tally: { sums: Float64Array; counts: Float64Array },
): void {
  const d = X.cols;
  for (let c = 0; c < k; c++) {
    let nearest = Infinity;
    for (let o = 0; o < k; o++) if (o !== c) nearest = Math.min(nearest, distance2(centers, c, centers, o, d));
    halfGap[c] = Math.sqrt(nearest) / 2;
  }
  const cNorms = rowNorms(centers, k, d);
  const transposed = transposeInEights(centers, k, d);
  const toCenters = new Float64Array(k);
  for (let r = 0; r < X.rows; r++) {
    const bound = Math.max(halfGap[labels[r]], lower[r]);
    if (upper[r] <= bound) continue;
    upper[r] = Math.sqrt(distance2(X.data, r, centers, labels[r], d));
    if (upper[r] <= bound) continue;
    squaredDistances(X.data, r * d, xNorms[r], transposed, cNorms, k, d, toCenters);
    let best = 0;
    let first = Infinity;
    let second = Infinity;
    for (let c = 0; c < k; c++) {
      const dist = toCenters[c];
      if (dist < first) {
        second = first;
        first = dist;
        best = c;
      } else if (dist < second) second = dist;
    }
    if (best !== labels[r]) {
      const was = labels[r];
      tally.counts[was]--;
      tally.counts[best]++;
      for (let j = 0; j < d; j++) {
        const v = X.data[r * d + j];
        tally.sums[was * d + j] -= v;
        tally.sums[best * d + j] += v;
      }
      labels[r] = best;
    }
    upper[r] = Math.sqrt(first);
    lower[r] = Math.sqrt(second);
  }
}

/** After centres move: a row's centre may have moved away by up to its shift, the others closer by up to the largest other shift. */
function loosen(labels: Int32Array, upper: Float64Array, lower: Float64Array, moved: Float64Array): void {
  let most = 0;
  let mostAt = -1;
  let runnerUp = 0;
  moved.forEach((m, c) => {
    if (m > most) [runnerUp, most, mostAt] = [most, m, c];
    else if (m > runnerUp) runnerUp = m;
  });
  for (let r = 0; r < labels.length; r++) {
    upper[r] += moved[labels[r]];
    lower[r] -= labels[r] === mostAt ? runnerUp : most;
  }
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

function distance2(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  const x = i * d;
  const y = j * d;
  let s0 = 0;
  let s1 = 0;
  let t = 0;
  for (; t + 1 < d; t += 2) {
    const d0 = a[x + t] - b[y + t];
    const d1 = a[x + t + 1] - b[y + t + 1];
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  if (t < d) {
    const d0 = a[x + t] - b[y + t];
    s0 += d0 * d0;
  }
  return s0 + s1;
}

/**
 * Squared distances from the row at data[x, x + d) to every centre, as ‖x‖² − 2x·c + ‖c‖²
 * (clipped at 0), eight centres per pass over the row so each of its values is loaded once.
 * `transposed` holds the centres in groups of eight, feature-major: group g, feature t,
 * centre i at (g·d + t)·8 + i (zero past the last centre), so a pass reads it in order.
 */
function squaredDistances(data: Float64Array, x: number, xNorm: number, transposed: Float64Array, cNorms: Float64Array, k: number, d: number, out: Float64Array): void {
  for (let g = 0; g * 8 < k; g++) {
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
    const dots = [s0, s1, s2, s3, s4, s5, s6, s7];
    for (let i = 0; i < 8 && c + i < k; i++) out[c + i] = Math.max(0, xNorm - 2 * dots[i]! + cNorms[c + i]);
  }
}

/** The centres in groups of eight, feature-major (see squaredDistances). */
function transposeInEights(centers: Float64Array, k: number, d: number): Float64Array {
  const out = new Float64Array(Math.ceil(k / 8) * d * 8);
  for (let c = 0; c < k; c++) {
    const g = c >> 3;
    for (let t = 0; t < d; t++) out[(g * d + t) * 8 + (c & 7)] = centers[c * d + t];
  }
  return out;
}

/** sklearn's tolerance scale: tol × the mean variance of the features. */
export function scaledTolerance(X: Matrix, tol: number): number {
  const d = X.cols;
  let total = 0;
  for (let j = 0; j < d; j++) {
    let mean = 0;
    for (let r = 0; r < X.rows; r++) mean += X.data[r * d + j];
    mean /= X.rows;
    let variance = 0;
    for (let r = 0; r < X.rows; r++) variance += (X.data[r * d + j] - mean) ** 2;
    total += variance / X.rows;
  }
  return (tol * total) / d;
}
