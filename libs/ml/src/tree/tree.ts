import type { Matrix } from "../matrix.js";

/**
 * A fitted tree as flat arrays indexed by node id (root 0). A row goes left when
 * fround(x[feature]) <= threshold, the float32 comparison ONNX's BRANCH_LEQ makes.
 */
export interface Tree {
  /** Split feature, or -1 at a leaf. */
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  /** Leaf outputs, `width` per node (zeros at split nodes). */
  value: Float64Array;
  width: number;
}

export function leafOf(tree: Tree, data: Float64Array, offset: number): number {
  const { feature, threshold, left, right } = tree;
  let node = 0;
  for (let f = feature[0]; f >= 0; f = feature[node]) {
    node = Math.fround(data[offset + f]) <= threshold[node] ? left[node] : right[node];
  }
  return node;
}

/** out[r * width + k] += scale · leaf value k of row r, for every row of X. */
export function addTreeOutput(tree: Tree, X: Matrix, out: Float64Array, scale = 1): void {
  const { value, width } = tree;
  for (let r = 0; r < X.rows; r++) {
    const at = leafOf(tree, X.data, r * X.cols) * width;
    for (let k = 0; k < width; k++) out[r * width + k] += scale * value[at + k];
  }
}

export function leafCount(tree: Tree): number {
  let n = 0;
  for (const f of tree.feature) if (f < 0) n++;
  return n;
}

export function depthOf(tree: Tree): number {
  const depth = new Int32Array(tree.feature.length);
  let max = 0;
  for (let node = 0; node < tree.feature.length; node++) {
    max = Math.max(max, depth[node]);
    if (tree.feature[node] >= 0) depth[tree.left[node]] = depth[tree.right[node]] = depth[node] + 1;
  }
  return max;
}
