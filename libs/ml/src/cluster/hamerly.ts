import { centerDotsKernel, type CenterDotsKernel } from "../wasm/center-dots.js";
import { kernelMemory } from "../wasm/kernel-instance.js";
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
  /**
   * How the rows' bounds loosen before they are used (the centres moved since they were
   * set): each centre's shift, then the largest shift, the runner-up and the centre of
   * the largest. A row's centre may have moved away by up to its shift, the others closer
   * by up to the largest other shift.
   */
  loosen: Float64Array;
}

/** Sizes of the arrays of a CenterState, so shared memory can be laid out for one. */
export function centerStateSizes(k: number, d: number) {
  return { centers: k * d, halfGap: k, cNorms: k, transposed: transposedSize(k, d), loosen: k + 3 };
}

/** Fills `into` (halfGap, norms, the transposed copy, the loosening by `moved`, if any) for these centres. */
export function prepareCenters(centers: Float64Array, k: number, d: number, into: CenterState, moved: Float64Array | null = null): void {
  into.loosen.fill(0);
  into.loosen[k + 2] = -1;
  if (moved) {
    let most = 0;
    let mostAt = -1;
    let runnerUp = 0;
    moved.forEach((m, c) => {
      if (m > most) [runnerUp, most, mostAt] = [most, m, c];
      else if (m > runnerUp) runnerUp = m;
    });
    into.loosen.set(moved);
    into.loosen.set([most, runnerUp, mostAt], k);
  }
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
 * Loosens the bounds of rows [from, to) by the centres' shifts, then assigns them; a row
 * that changes cluster moves its values between the clusters' entries of `sums` and
 * `counts` (deltas: the caller adds them to its totals).
 * Rows whose bounds fail get their distances to every centre from the SIMD kernel where it
 * runs, a block at a time, then are settled in row order, so sums add up in the same order
 * and the distances are the same to the bit as squaredDistancesTo's.
 */
export function assignRows(
  s: RowState,
  cs: CenterState,
  from: number,
  to: number,
  sums: Float64Array,
  counts: Float64Array,
  /** null: JavaScript only. */
  kernel: CenterDotsKernel | null = centerDotsKernel(),
): void {
  const { data, d, k, labels, upper, lower } = s;
  const { centers, halfGap, loosen } = cs;
  const [most, runnerUp, mostAt] = [loosen[k], loosen[k + 1], loosen[k + 2]];
  const pending = kernel ? new PendingRows(kernel, s, cs) : undefined;
  const toCenters = new Float64Array(k);
  for (let r = from; r < to; r++) {
    upper[r] += loosen[labels[r]];
    lower[r] -= labels[r] === mostAt ? runnerUp : most;
    const bound = Math.max(halfGap[labels[r]], lower[r]);
    if (upper[r] <= bound) continue;
    upper[r] = Math.sqrt(distance2(data, r, centers, labels[r], d));
    if (upper[r] <= bound) continue;
    if (pending) {
      if (pending.add(r)) pending.settle((row, distances) => settleRow(s, row, distances, sums, counts));
      continue;
    }
    squaredDistancesTo(data, r * d, s.xNorms[r], cs.transposed, cs.cNorms, k, d, toCenters);
    settleRow(s, r, toCenters, sums, counts);
  }
  pending?.settle((row, distances) => settleRow(s, row, distances, sums, counts));
}

/** Row r's nearest centre from its squared distances to all: its label, its bounds, and the sums it moves. */
function settleRow(s: RowState, r: number, toCenters: Float64Array, sums: Float64Array, counts: Float64Array): void {
  const { data, d, k, labels, upper, lower } = s;
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

const PENDING_ROWS = 256;

/** Rows waiting for their distances, copied into the kernel's memory as they come. */
class PendingRows {
  private readonly rows = new Int32Array(PENDING_ROWS);
  private count = 0;
  private readonly memory: Float64Array;
  private readonly groups: number;
  private readonly blockAt: number;
  private readonly dotsAt: number;
  private readonly normsAt: number;
  private readonly toCenters: Float64Array;

  constructor(
    private readonly kernel: CenterDotsKernel,
    private readonly s: RowState,
    private readonly cs: CenterState,
  ) {
    const { d, k } = s;
    this.groups = Math.ceil(k / 8);
    this.blockAt = transposedSize(k, d);
    this.dotsAt = this.blockAt + PENDING_ROWS * d;
    this.normsAt = this.dotsAt + PENDING_ROWS * this.groups * 8;
    this.memory = kernelMemory(kernel.memory, (this.normsAt + PENDING_ROWS) * 8);
    this.memory.set(cs.transposed.subarray(0, this.blockAt));
    this.toCenters = new Float64Array(k);
  }

  /** Queues row r; true when the block is full and must be settled. */
  add(r: number): boolean {
    const d = this.s.d;
    this.memory.set(this.s.data.subarray(r * d, (r + 1) * d), this.blockAt + this.count * d);
    this.rows[this.count++] = r;
    return this.count === PENDING_ROWS;
  }

  settle(each: (row: number, distances: Float64Array) => void): void {
    if (this.count === 0) return;
    const { d, k, xNorms } = this.s;
    const { cNorms } = this.cs;
    this.kernel.dots(this.blockAt * 8, this.count, d, 0, this.groups, this.dotsAt * 8, this.normsAt * 8);
    for (let j = 0; j < this.count; j++) {
      const r = this.rows[j];
      const dots = this.dotsAt + j * this.groups * 8;
      for (let c = 0; c < k; c++) this.toCenters[c] = Math.max(0, xNorms[r] - 2 * this.memory[dots + c] + cNorms[c]);
      each(r, this.toCenters);
    }
    this.count = 0;
  }
}

/**
 * Squared distance between row i of a and row j of b (d columns each). Four running sums:
 * each add waits for the one before it on the same sum, so fewer would leave the core idle.
 */
export function distance2(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  const x = i * d;
  const y = j * d;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let t = 0;
  for (; t + 3 < d; t += 4) {
    const d0 = a[x + t] - b[y + t];
    const d1 = a[x + t + 1] - b[y + t + 1];
    const d2 = a[x + t + 2] - b[y + t + 2];
    const d3 = a[x + t + 3] - b[y + t + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; t < d; t++) {
    const d0 = a[x + t] - b[y + t];
    s0 += d0 * d0;
  }
  return s0 + s1 + (s2 + s3);
}
