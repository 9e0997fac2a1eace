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
  const walker = new PairWalker(e, width);
  const values = new Float64Array(count * width * k);
  for (let i = 0; i < count; i++) {
    walker.phi = values.subarray(i * width * k, (i + 1) * width * k);
    for (let j = 0; j < b; j++) walker.pair(rows, i * width, background, j * width);
    for (let v = 0; v < walker.phi.length; v++) walker.phi[v]! /= b;
  }
  return { values, sums: treeSums(e, rows, count, width) };
}

/** Copies of the values as a model taking float32 sees them. */
export function asFloat32Values(values: Float64Array): Float64Array {
  return Float64Array.from(values, Math.fround);
}

/** One (row, background row) pair's walk down every tree, adding its values to `phi`. */
class PairWalker {
  phi: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private readonly k: number;
  /** Per feature: 0 while unassigned, 1 once it takes x's value on this path, 2 once it takes z's. */
  private readonly side: Uint8Array;
  /** [depth, targets]: the sums of the leaves below, weighted for a feature of Sx (pos) and of Sz (neg). */
  private readonly pos: Float64Array;
  private readonly neg: Float64Array;
  /** weight[a * (depth + 1) + b] = a!·b!/(a+b+1)!. */
  private readonly weight: Float64Array;
  private readonly span: number;
  private x: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private xAt = 0;
  private z: Float64Array<ArrayBufferLike> = new Float64Array(0);
  private zAt = 0;

  constructor(
    private readonly e: TreeEnsemble,
    width: number,
  ) {
    this.k = e.targets;
    this.side = new Uint8Array(width);
    const depth = Math.min(width, maxDepth(e)) + 1;
    this.pos = new Float64Array((depth + 1) * this.k);
    this.neg = new Float64Array((depth + 1) * this.k);
    this.span = depth + 1;
    this.weight = new Float64Array(this.span * this.span);
    for (let a = 0; a <= depth; a++) {
      for (let c = 0; c <= depth; c++) this.weight[a * this.span + c] = a === 0 ? 1 / (c + 1) : (this.weight[(a - 1) * this.span + c]! * a) / (a + c + 1);
    }
  }

  pair(x: Float64Array, xAt: number, z: Float64Array, zAt: number): void {
    this.x = x;
    this.xAt = xAt;
    this.z = z;
    this.zAt = zAt;
    for (let r = 0; r < this.e.roots.length; r++) this.walk(this.e.roots[r]!, 0, 0, 0);
  }

  /** Leaves `node`'s pos and neg sums at slot `d` of pos and neg, for a path so far with `a` features of x's and `c` of z's. */
  private walk(node: number, a: number, c: number, d: number): void {
    const e = this.e;
    const k = this.k;
    for (;;) {
      if (e.mode[node] === TreeMode.LEAF) {
        const wPos = a > 0 ? this.weight[(a - 1) * this.span + c]! : 0;
        const wNeg = c > 0 ? this.weight[a * this.span + c - 1]! : 0;
        for (let t = 0; t < k; t++) {
          const v = e.leaf[node * k + t]!;
          this.pos[d * k + t] = v * wPos;
          this.neg[d * k + t] = v * wNeg;
        }
        return;
      }
      const f = e.feature[node]!;
      const xYes = goesYes(e, node, this.x[this.xAt + f]!);
      const zYes = goesYes(e, node, this.z[this.zAt + f]!);
      const side = this.side[f]!;
      if (xYes === zYes || side !== 0) {
        node = (side === 2 ? zYes : xYes) ? e.yes[node]! : e.no[node]!;
        continue;
      }
      const xChild = xYes ? e.yes[node]! : e.no[node]!;
      const zChild = zYes ? e.yes[node]! : e.no[node]!;
      const here = d * k;
      const below = here + k;
      this.side[f] = 1;
      this.walk(xChild, a + 1, c, d + 1);
      for (let t = 0; t < k; t++) {
        this.phi[f * k + t]! += this.pos[below + t]!;
        this.pos[here + t] = this.pos[below + t]!;
        this.neg[here + t] = this.neg[below + t]!;
      }
      this.side[f] = 2;
      this.walk(zChild, a, c + 1, d + 1);
      for (let t = 0; t < k; t++) {
        this.phi[f * k + t]! -= this.neg[below + t]!;
        this.pos[here + t]! += this.pos[below + t]!;
        this.neg[here + t]! += this.neg[below + t]!;
      }
      this.side[f] = 0;
      return;
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
