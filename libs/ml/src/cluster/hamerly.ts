import { rowNorms, squaredDistancesTo, transposedSize, transposeInEights } from "./distances.js";

/**
 * Hamerly's assignment step over a range of rows, on plain typed arrays so that it runs
 * the same on the caller's thread or a worker's (over shared memory). upper[r] ≥ the
 * distance to labels[r]'s centre, lower[r] ≤ the distance to any other; a row whose
 * bounds prove it keeps its centre costs no distance at all.
 */
export interface RowState {
  data: Float64Array;
  d: number;
  k: number;
  xNorms: Float64Array;
  labels: Int32Array;
  upper: Float64Array;
  lower: Float64Array;
}

/** What every row's assignment needs of the centres, computed once per iteration. */
export interface CenterState {
  centers: Float64Array;
  halfGap: Float64Array;
  cNorms: Float64Array;
  transposed: Float64Array;
}

/** Sizes of the arrays of a CenterState, so shared memory can be laid out for one. */
export function centerStateSizes(k: number, d: number) {
  return { centers: k * d, halfGap: k, cNorms: k, transposed: transposedSize(k, d) };
}

/** Fills `into` (halfGap, norms, the transposed copy) for these centres. */
export function prepareCenters(centers: Float64Array, k: number, d: number, into: CenterState): void {
  into.centers.set(centers);
  for (let c = 0; c < k; c++) {
    let nearest = Infinity;
    for (let o = 0; o < k; o++) if (o !== c) nearest = Math.min(nearest, distance2(centers, c, centers, o, d));
    into.halfGap[c] = Math.sqrt(nearest) / 2;
  }
  into.cNorms.set(rowNorms(centers, k, d));
  transposeInEights(centers, k, d, into.transposed);
}

/**
 * Assigns rows [from, to); a row that changes cluster moves its values between the
 * clusters' entries of `sums` and `counts` (deltas: the caller adds them to its totals).
 */
export function assignRows(s: RowState, cs: CenterState, from: number, to: number, sums: Float64Array, counts: Float64Array): void {
  const { data, d, k, xNorms, labels, upper, lower } = s;
  const { centers, halfGap, cNorms, transposed } = cs;
  const toCenters = new Float64Array(k);
  for (let r = from; r < to; r++) {
    const bound = Math.max(halfGap[labels[r]], lower[r]);
    if (upper[r] <= bound) continue;
    upper[r] = Math.sqrt(distance2(data, r, centers, labels[r], d));
    if (upper[r] <= bound) continue;
    squaredDistancesTo(data, r * d, xNorms[r], transposed, cNorms, k, d, toCenters);
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
      counts[was]--;
      counts[best]++;
      for (let j = 0; j < d; j++) {
        const v = data[r * d + j];
        sums[was * d + j] -= v;
        sums[best * d + j] += v;
      }
      labels[r] = best;
    }
    upper[r] = Math.sqrt(first);
    lower[r] = Math.sqrt(second);
  }
}

/** Squared distance between row i of a and row j of b (d columns each), two running sums. */
export function distance2(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
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
