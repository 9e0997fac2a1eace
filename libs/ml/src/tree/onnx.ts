import { attr, type OnnxAttribute, type OnnxGraphBuilder } from "@kiln/onnx";
import { InvalidInputError } from "../errors.js";
import type { ClassLabel } from "../labels.js";
import type { Tree } from "./tree.js";

const ML = "ai.onnx.ml";

/** The nodes_* attributes shared by TreeEnsembleClassifier and TreeEnsembleRegressor. */
function nodeAttributes(trees: Tree[]): Record<string, OnnxAttribute> {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const features: number[] = [];
  const modes: string[] = [];
  const values: number[] = [];
  const trueIds: number[] = [];
  const falseIds: number[] = [];
  trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      const leaf = tree.feature[node] < 0;
      treeIds.push(t);
      nodeIds.push(node);
      features.push(leaf ? 0 : tree.feature[node]);
      modes.push(leaf ? "LEAF" : "BRANCH_LEQ");
      values.push(leaf ? 0 : tree.threshold[node]);
      trueIds.push(leaf ? 0 : tree.left[node]);
      falseIds.push(leaf ? 0 : tree.right[node]);
    }
  });
  return {
    nodes_treeids: attr.ints(treeIds),
    nodes_nodeids: attr.ints(nodeIds),
    nodes_featureids: attr.ints(features),
    nodes_modes: attr.strings(modes),
    nodes_values: attr.floats(values),
    nodes_truenodeids: attr.ints(trueIds),
    nodes_falsenodeids: attr.ints(falseIds),
  };
}

/** Every leaf's outputs as (tree, node, target, weight) lists; `targetOf(t, k)` maps a tree's k-th output to a target. */
function leafAttributes(trees: Tree[], scale: number, targetOf: (tree: number, k: number) => number) {
  const treeIds: number[] = [];
  const nodeIds: number[] = [];
  const ids: number[] = [];
  const weights: number[] = [];
  trees.forEach((tree, t) => {
    for (let node = 0; node < tree.feature.length; node++) {
      if (tree.feature[node] >= 0) continue;
      // Every class gets a weight, zeros included: onnxruntime special-cases two classes when one is missing.
      for (let k = 0; k < tree.width; k++) {
        treeIds.push(t);
        nodeIds.push(node);
        ids.push(targetOf(t, k));
        weights.push(scale * tree.value[node * tree.width + k]);
      }
    }
  });
  return { treeIds, nodeIds, ids, weights };
}

/** TreeEnsembleClassifier summing scale × leaf class probabilities; writes float32 [N, classes] scores to `scores`. */
export function treeClassifierScores(graph: OnnxGraphBuilder, input: string, scores: string, trees: Tree[], nClasses: number, scale: number): void {
  const leaves = leafAttributes(trees, scale, (_, k) => k);
  graph.node(
    "TreeEnsembleClassifier",
    [input],
    [`${scores}_label`, scores],
    {
      ...nodeAttributes(trees),
      class_treeids: attr.ints(leaves.treeIds),
      class_nodeids: attr.ints(leaves.nodeIds),
      class_ids: attr.ints(leaves.ids),
      class_weights: attr.floats(leaves.weights),
      classlabels_int64s: attr.ints(Array.from({ length: nClasses }, (_, k) => k)),
      post_transform: attr.string("NONE"),
    },
    ML,
  );
}

export interface RegressorOptions {
  nTargets: number;
  /** Target of tree t's (single) output. */
  targetOf?: (tree: number) => number;
  scale?: number;
  aggregate?: "SUM" | "AVERAGE";
  baseValues?: number[];
  /** onnxruntime 1.30 applies SOFTMAX to several targets but ignores LOGISTIC on a single one. */
  postTransform?: "NONE" | "SOFTMAX";
}

/** TreeEnsembleRegressor: float32 [N, nTargets] to `output`. */
export function treeRegressor(graph: OnnxGraphBuilder, input: string, output: string, trees: Tree[], options: RegressorOptions): void {
  const targetOf = options.targetOf ?? (() => 0);
  const leaves = leafAttributes(trees, options.scale ?? 1, (t) => targetOf(t));
  graph.node(
    "TreeEnsembleRegressor",
    [input],
    [output],
    {
      ...nodeAttributes(trees),
      target_treeids: attr.ints(leaves.treeIds),
      target_nodeids: attr.ints(leaves.nodeIds),
      target_ids: attr.ints(leaves.ids),
      target_weights: attr.floats(leaves.weights),
      n_targets: attr.int(options.nTargets),
      aggregate_function: attr.string(options.aggregate ?? "SUM"),
      post_transform: attr.string(options.postTransform ?? "NONE"),
      ...(options.baseValues ? { base_values: attr.floats(options.baseValues) } : {}),
    },
    ML,
  );
}

/**
 * label = classes[argmax(probabilities)] with core ops (first class on ties, as predict), so int and
 * string labels work alike and the outputs are plain tensors onnxruntime-node can return.
 */
export function labelOfProbabilities(graph: OnnxGraphBuilder, probabilities: string, label: string, classes: ClassLabel[], prefix: string): "int64" | "string" {
  const index = `${prefix}_class_index`;
  const table = `${prefix}_classes`;
  graph.node("ArgMax", [probabilities], [index], { axis: attr.int(1), keepdims: attr.int(0) });
  const type = classTensorType(classes);
  graph.initializer(table, type === "string" ? classes.map(String) : BigInt64Array.from(classes, (c) => BigInt(c as number)), [classes.length]);
  graph.node("Gather", [table, index], [label], { axis: attr.int(0) });
  return type;
}

function classTensorType(classes: ClassLabel[]): "int64" | "string" {
  if (typeof classes[0] === "string") return "string";
  const bad = classes.find((c) => !Number.isSafeInteger(c));
  if (bad !== undefined) throw new InvalidInputError(`ONNX labels are int64 or strings; class ${bad} is neither (use string labels)`, "UNSUPPORTED_LABELS");
  return "int64";
}
