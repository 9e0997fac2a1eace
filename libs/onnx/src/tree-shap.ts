import { TreeMode, type TreeEnsemble } from "./tree-ensemble.js";

export interface TreeShapValues {
  /** [rows, width, targets]: how much each feature moved each sum away from the background's mean sum. */
  values: Float64Array;
  /** [rows, targets]: the rows' sums; the background's mean sum plus Σ values is this. */
  sums: Float64Array;
}

/**
 * [count, targets]: each row's sums (`rows` is [count, width], row-major), as onnxruntime
 * computes them but in float64; round the rows to float32 first for a model that takes float32.
 */
export function treeSums(e: TreeEnsemble, rows: Float64Array, count: number, width: number): Float64Array {
  const k = e.targets;
  const sums = new Float64Array(count * k);
  for (let i = 0; i < count; i++) {
    const at = i * width;
    for (let t = 0; t < k; t++) sums[i * k + t] = e.base[t]!;
    for (let r = 0; r < e.roots.length; r++) {
      let node = e.roots[r]!;
      while (e.mode[node] !== TreeMode.LEAF) node = goesYes(e, node, rows[at + e.feature[node]!]!) ? e.yes[node]! : e.no[node]!;
      for (let t = 0; t < k; t++) sums[i * k + t]! += e.leaf[node * k + t]!;
    }
  }
  return sums;
}

/**
 * Interventional Tree SHAP (Lundberg et al. 2020, "From local explanations to global
 * understanding with explainable AI for trees"): the exact Shapley values that running the
 * model on every coalition of features against every background row gives (see
 * ShapleyExplainer in @kiln/ml), in time linear in the trees' nodes instead of exponential
 * in the features. For a row x and a background row z, a tree is walked down both where x
 * and z part at a split: the split's feature then takes x's value on one side and z's on
 * the other, and keeps it further down. A leaf reached with the features Sx taking x's
 * values and Sz taking z's is the tree's answer exactly for the coalitions holding all of
 * Sx and none of Sz, which gives each feature of Sx v·(|Sx|−1)!|Sz|!/(|Sx|+|Sz|)! and
 * each of Sz −v·|Sx|!(|Sz|−1)!/(|Sx|+|Sz|)!. The values are averaged over the background.
 */
export function treeShap(e: TreeEnsemble, rows: Float64Array, count: number, background: Float64Array, width: number): TreeShapValues {
  if (rows.length !== count * width) throw new RangeError(`${count} rows of ${width} features are ${count * width} values, not ${rows.length}`);
  if (background.length === 0 || background.length % width !== 0) throw new RangeError(`the background holds ${background.length} values, not rows of ${width}`);
  const k = e.targets;
  const b = background.length / width;
  const walker = new BackgroundWalker(e, background, width);
  const values = new Float64Array(count * width * k);
  for (let i = 0; i < count; i++) {
    const phi = values.subarray(i * width * k, (i + 1) * width * k);
    walker.row(rows, i * width, phi);
    for (let v = 0; v < phi.length; v++) phi[v]! /= b;
  }
  return { values, sums: treeSums(e, rows, count, width) };
}

/** Copies of the values as a model taking float32 sees them. */
export function asFloat32Values(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values, Math.fround);
}

/**
 * A row's walks against every background row at once: the background rows that take the
 * same way down a tree (the same splits, the same features of x's and of z's so far) are
 * walked as one group, so a split or a leaf costs once per group, not once per background
 * row, and each background row costs only its place in the partitions.
 */
class BackgroundWalker {
  private readonly k: number;
  /** Per feature: 0 while unassigned, 1 once it takes x's value on this path, 2 once it takes z's. */
  private readonly side: Uint8Array;
  /** [level, targets]: the sums of the leaves below, weighted for a feature of Sx (pos) and of Sz (neg), times the background rows reaching them. */
  private readonly pos: Float64Array;
  private readonly neg: Float64Array;
  /** weight[a * span + c] = a!·c!/(a+c+1)!. */
  private readonly weight: Float64Array;
  private readonly span: number;
  /** Background row indices: every row first, then each level's partition of its group. */
  private readonly ids: Int32Array;
  private readonly b: number;
  private x: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private xAt = 0;
  private phi: Float64Array<ArrayBufferLike> = new Float64Array(0);

  constructor(
    private readonly e: TreeEnsemble,
    private readonly z: Float64Array,
    private readonly width: number,
  ) {
    this.k = e.targets;
    this.b = z.length / width;
    this.side = new Uint8Array(width);
    const depth = maxDepth(e);
    this.pos = new Float64Array((depth + 2) * this.k);
    this.neg = new Float64Array((depth + 2) * this.k);
    this.ids = new Int32Array(this.b * (depth + 2));
    const most = Math.min(width, depth) + 1;
    this.span = most + 1;
    this.weight = new Float64Array(this.span * this.span);
    for (let a = 0; a <= most; a++) {
      for (let c = 0; c <= most; c++) this.weight[a * this.span + c] = a === 0 ? 1 / (c + 1) : (this.weight[(a - 1) * this.span + c]! * a) / (a + c + 1);
    }
  }

  /** Adds the row's values summed over the background rows to `phi` ([width, targets]). */
  row(x: Float64Array, xAt: number, phi: Float64Array<ArrayBufferLike>): void {
    this.x = x;
    this.xAt = xAt;
    this.phi = phi;
    for (let r = 0; r < this.e.roots.length; r++) {
      for (let j = 0; j < this.b; j++) this.ids[j] = j;
      this.walk(this.e.roots[r]!, 0, 0, 0, this.b, this.b, 0);
    }
  }

  /**
   * Walks `node` with the group ids[from, to) of background rows, a path so far with `a`
   * features of x's and `c` of z's; leaves its pos and neg sums at `level`. Partitions go
   * to ids from `free` on.
   */
  private walk(node: number, a: number, c: number, from: number, to: number, free: number, level: number): void {
    const e = this.e;
    const k = this.k;
    const here = level * k;
    for (;;) {
      const f = e.feature[node]!;
      if (f < 0) {
        const n = to - from;
        const wPos = a > 0 ? n * this.weight[(a - 1) * this.span + c]! : 0;
        const wNeg = c > 0 ? n * this.weight[a * this.span + c - 1]! : 0;
        for (let t = 0; t < k; t++) {
          const v = e.leaf[node * k + t]!;
          this.pos[here + t] = v * wPos;
          this.neg[here + t] = v * wNeg;
        }
        return;
      }
      const xYes = goesYes(e, node, this.x[this.xAt + f]!);
      const side = this.side[f]!;
      if (side === 1) {
        node = xYes ? e.yes[node]! : e.no[node]!;
        continue;
      }
      // Partition the group after it: the rows going yes first, then those going no.
      const top = free;
      let yesEnd = top;
      let noStart = top + (to - from);
      for (let i = from; i < to; i++) {
        const j = this.ids[i]!;
        if (goesYes(e, node, this.z[j * this.width + f]!)) this.ids[yesEnd++] = j;
        else this.ids[--noStart] = j;
      }
      const end = top + (to - from);
      for (let t = 0; t < k; t++) this.pos[here + t] = this.neg[here + t] = 0;
      if (side === 2) {
        // The feature takes each background row's value: each part goes its own way.
        if (yesEnd > top) this.add(e.yes[node]!, a, c, top, yesEnd, end, level, 0);
        if (end > noStart) this.add(e.no[node]!, a, c, noStart, end, end, level, 0);
        return;
      }
      const agreeFrom = xYes ? top : noStart;
      const agreeTo = xYes ? yesEnd : end;
      const partFrom = xYes ? noStart : top;
      const partTo = xYes ? end : yesEnd;
      const xChild = xYes ? e.yes[node]! : e.no[node]!;
      const zChild = xYes ? e.no[node]! : e.yes[node]!;
      if (agreeTo > agreeFrom) this.add(xChild, a, c, agreeFrom, agreeTo, end, level, 0);
      if (partTo > partFrom) {
        // Where x and z part, the feature takes x's value on one side and z's on the other.
        this.side[f] = 1;
        this.add(xChild, a + 1, c, partFrom, partTo, end, level, f + 1);
        this.side[f] = 2;
        this.add(zChild, a, c + 1, partFrom, partTo, end, level, -(f + 1));
        this.side[f] = 0;
      }
      return;
    }
  }

  /** Walks a child one level down and adds its sums to `level`'s; `credit` ±(f + 1) credits f with its pos (+) or debits its neg (−). */
  private add(child: number, a: number, c: number, from: number, to: number, free: number, level: number, credit: number): void {
    this.walk(child, a, c, from, to, free, level + 1);
    const k = this.k;
    const here = level * k;
    const below = here + k;
    if (credit > 0) for (let t = 0; t < k; t++) this.phi[(credit - 1) * k + t]! += this.pos[below + t]!;
    if (credit < 0) for (let t = 0; t < k; t++) this.phi[(-credit - 1) * k + t]! -= this.neg[below + t]!;
    for (let t = 0; t < k; t++) {
      this.pos[here + t]! += this.pos[below + t]!;
      this.neg[here + t]! += this.neg[below + t]!;
    }
  }
}

function goesYes(e: TreeEnsemble, node: number, x: number): boolean {
  if (Number.isNaN(x)) return e.missingYes[node] === 1;
  const t = e.threshold[node]!;
  switch (e.mode[node]) {
    case TreeMode.LEQ:
      return x <= t;
    case TreeMode.LT:
      return x < t;
    case TreeMode.GTE:
      return x >= t;
    case TreeMode.GT:
      return x > t;
    case TreeMode.EQ:
      return x === t;
    default:
      return x !== t;
  }
}

/** The most splits on any path from a root to a leaf. */
function maxDepth(e: TreeEnsemble): number {
  let deepest = 0;
  const stack: [number, number][] = [];
  for (let r = 0; r < e.roots.length; r++) stack.push([e.roots[r]!, 0]);
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (e.mode[node] === TreeMode.LEAF) {
      deepest = Math.max(deepest, depth);
      continue;
    }
    stack.push([e.yes[node]!, depth + 1], [e.no[node]!, depth + 1]);
  }
  return deepest;
}
