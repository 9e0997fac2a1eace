import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type AttributeProto, type GraphProto, type NodeProto } from "onnx-buf";
import { NotTreeEnsembleError } from "./errors.js";
import { tensorNumbers } from "./tensor-numbers.js";
import { aNode, PASS_THROUGH, traceEnsembleInput } from "./tree-input.js";

/** How a split compares a row's value with its threshold (TreeEnsemble.mode). */
export const TreeMode = { LEQ: 0, LT: 1, GTE: 2, GT: 3, EQ: 4, NEQ: 5, LEAF: 6 } as const;

const MODES: Record<string, number> = {
  BRANCH_LEQ: TreeMode.LEQ,
  BRANCH_LT: TreeMode.LT,
  BRANCH_GTE: TreeMode.GTE,
  BRANCH_GT: TreeMode.GT,
  BRANCH_EQ: TreeMode.EQ,
  BRANCH_NEQ: TreeMode.NEQ,
  LEAF: TreeMode.LEAF,
};

/**
 * A tree ensemble as onnxruntime evaluates it: every tree's nodes in flat arrays (node
 * indices run over the whole ensemble), in shared memory so they cross to worker threads
 * without a copy. A row's raw sums are `base` plus, for each tree, the weights of the
 * leaf the row reaches.
 */
export interface TreeEnsemble {
  /** Sums each row gets: a regressor's targets, a classifier's classes. */
  targets: number;
  /** Per node: the feature it splits on, -1 at a leaf. */
  feature: Int32Array;
  threshold: Float64Array;
  mode: Uint8Array;
  /** Per node: where a row goes when the comparison holds, and where when it does not. */
  yes: Int32Array;
  no: Int32Array;
  /** Per node: 1 when a missing value (NaN) goes `yes`. */
  missingYes: Uint8Array;
  /** [node, target]: a leaf's weights (zero elsewhere), already divided by the tree count for AVERAGE. */
  leaf: Float64Array;
  roots: Int32Array;
  /** [targets]: ONNX's base_values. */
  base: Float64Array;
}

/**
 * How a model's output is made from its ensemble's sums: column c of the output is
 * link(sign[c] × sums[target[c]]). "identity" gives the sums themselves (regressors,
 * forests' averaged probabilities); "logistic" each one's sigmoid and "softmax" their
 * softmax (gradient-boosted classifiers), for which the sums are margins (log-odds).
 */
export interface TreeReading {
  ensemble: TreeEnsemble;
  link: "identity" | "logistic" | "softmax";
  target: number[];
  /** -1 for the first class of a binary classifier made of one margin. */
  sign: (1 | -1)[];
  /**
   * When the trees read the model's input through per-feature preprocessing (a scaler, an
   * imputer: see traceEnsembleInput): the tensor they read, to be fetched from the model,
   * and each of its columns' feature of the model's input (null: the same columns).
   */
  preprocessed?: { tensor: string; columns: number[] | null };
}

/**
 * The tree ensemble behind the graph output `output` of a model fed by its input `input`:
 * a TreeEnsembleRegressor's or TreeEnsembleClassifier's (ai.onnx.ml) output, reached from
 * the input through per-feature preprocessing at most (see traceEnsembleInput) and to the
 * output through Identity and Cast only, or a binary classifier's [1 − sigmoid(m),
 * sigmoid(m)] of one margin m (Kiln's boosted classifiers). Anything else throws
 * NotTreeEnsembleError saying what was found.
 */
export function readTreeEnsemble(bytes: Uint8Array, input: string, output: string): TreeReading {
  const graph = fromBinary(ModelProtoSchema, bytes).graph;
  if (!graph) throw new NotTreeEnsembleError("the model has no graph");
  const producers = new Map<string, NodeProto>();
  for (const node of graph.node) for (const name of node.output) producers.set(name, node);
  const source = (name: string): string => {
    for (let node = producers.get(name); node && PASS_THROUGH.has(node.opType); node = producers.get(name)) name = node.input[0]!;
    return name;
  };
  const top = source(output);
  const binary = binaryMargin(graph, producers, source, top);
  const tensor = binary ?? top;
  const node = producers.get(tensor);
  if (!node) throw new NotTreeEnsembleError(`"${output}" is not computed by a node`);
  const regressor = node.opType === "TreeEnsembleRegressor" && node.output[0] === tensor;
  const classifier = node.opType === "TreeEnsembleClassifier" && node.output[1] === tensor;
  if (node.domain !== "ai.onnx.ml" || !(regressor || classifier)) {
    throw new NotTreeEnsembleError(`"${output}" comes from ${aNode(node.opType)}, not a tree ensemble's scores`);
  }
  const read = traceEnsembleInput(graph, producers, input, node.input[0]!, node.opType);
  const attrs = new Map(node.attribute.map((a) => [a.name, a]));
  const post = text(attrs.get("post_transform")) ?? "NONE";
  if (binary && post !== "NONE") throw new NotTreeEnsembleError(`a sigmoid over a ${node.opType} with post_transform ${post}`);
  const prefix = regressor ? "target" : "class";
  const labels = (attrs.get("classlabels_int64s")?.ints.length ?? 0) || (attrs.get("classlabels_strings")?.strings.length ?? 0);
  const targets = regressor ? Number(attrs.get("n_targets")?.i ?? 1) : labels;
  let target = [...Array(targets).keys()];
  let sign: (1 | -1)[] = target.map(() => 1);
  if (binary) {
    if (targets !== 1) throw new NotTreeEnsembleError(`a sigmoid over ${targets} sums`);
    target = [0, 0];
    sign = [-1, 1];
  }
  const link = binary || post === "LOGISTIC" ? "logistic" : post === "SOFTMAX" ? "softmax" : post === "NONE" ? "identity" : undefined;
  if (!link) throw new NotTreeEnsembleError(`the ${node.opType}'s post_transform ${post}`);
  const aggregate = text(attrs.get("aggregate_function")) ?? "SUM";
  if (aggregate !== "SUM" && aggregate !== "AVERAGE") throw new NotTreeEnsembleError(`the ${node.opType}'s aggregate_function ${aggregate}`);
  const ensemble = flatten(attrs, prefix, targets, aggregate === "AVERAGE");
  return { ensemble, link, target, sign, ...(!read.direct && { preprocessed: { tensor: node.input[0]!, columns: read.columns } }) };
}

/** m when `tensor` is Concat([1 − s, s]) along columns of s = Sigmoid(m). */
function binaryMargin(graph: GraphProto, producers: Map<string, NodeProto>, source: (name: string) => string, tensor: string): string | undefined {
  const concat = producers.get(tensor);
  if (concat?.opType !== "Concat" || concat.input.length !== 2) return undefined;
  const [first, second] = concat.input.map(source) as [string, string];
  const sigmoid = producers.get(second);
  const complement = producers.get(first);
  if (sigmoid?.opType !== "Sigmoid" || complement?.opType !== "Sub" || source(complement.input[1]!) !== second) return undefined;
  const one = graph.initializer.find((t) => t.name === complement.input[0]);
  const values = one && tensorNumbers(one);
  if (!values?.length || values.some((v) => v !== 1)) return undefined;
  return source(sigmoid.input[0]!);
}

function flatten(attrs: Map<string, AttributeProto>, prefix: string, targets: number, average: boolean): TreeEnsemble {
  const treeIds = numbers(attrs, "nodes_treeids");
  const nodeIds = numbers(attrs, "nodes_nodeids");
  const featureIds = numbers(attrs, "nodes_featureids");
  const values = numbers(attrs, "nodes_values");
  const trueIds = numbers(attrs, "nodes_truenodeids");
  const falseIds = numbers(attrs, "nodes_falsenodeids");
  const missing = numbers(attrs, "nodes_missing_value_tracks_true", true);
  const modes = attrs.get("nodes_modes")?.strings.map((s) => new TextDecoder().decode(s)) ?? [];
  const n = treeIds.length;
  if (![nodeIds, featureIds, values, trueIds, falseIds, modes].every((a) => a.length === n) || (missing.length && missing.length !== n)) {
    throw new NotTreeEnsembleError("the tree ensemble's nodes_* attributes differ in length");
  }
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(`${treeIds[i]}:${nodeIds[i]}`, i);
  const at = (tree: number, node: number) => {
    const i = index.get(`${tree}:${node}`);
    if (i === undefined) throw new NotTreeEnsembleError(`tree ${tree} has no node ${node}`);
    return i;
  };
  const ensemble: TreeEnsemble = {
    targets,
    feature: shared(Int32Array, n),
    threshold: shared(Float64Array, n),
    mode: shared(Uint8Array, n),
    yes: shared(Int32Array, n),
    no: shared(Int32Array, n),
    missingYes: shared(Uint8Array, n),
    leaf: shared(Float64Array, n * targets),
    roots: shared(Int32Array, 0),
    base: shared(Float64Array, targets),
  };
  const referenced = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const mode = MODES[modes[i]!];
    if (mode === undefined) throw new NotTreeEnsembleError(`nodes_modes ${modes[i]}`);
    ensemble.mode[i] = mode;
    ensemble.missingYes[i] = missing[i] ?? 0;
    if (mode === TreeMode.LEAF) {
      ensemble.feature[i] = -1;
      continue;
    }
    ensemble.feature[i] = featureIds[i]!;
    ensemble.threshold[i] = values[i]!;
    ensemble.yes[i] = at(treeIds[i]!, trueIds[i]!);
    ensemble.no[i] = at(treeIds[i]!, falseIds[i]!);
    referenced[ensemble.yes[i]!] = referenced[ensemble.no[i]!] = 1;
  }
  const roots: number[] = [];
  const trees = new Set<number>();
  for (let i = 0; i < n; i++) {
    if (referenced[i]) continue;
    if (trees.has(treeIds[i]!)) throw new NotTreeEnsembleError(`tree ${treeIds[i]} has more than one root`);
    trees.add(treeIds[i]!);
    roots.push(i);
  }
  ensemble.roots = shared(Int32Array, roots.length);
  ensemble.roots.set(roots);
  const scale = average ? 1 / Math.max(1, trees.size) : 1;
  const leafTrees = numbers(attrs, `${prefix}_treeids`);
  const leafNodes = numbers(attrs, `${prefix}_nodeids`);
  const leafIds = numbers(attrs, `${prefix}_ids`);
  const weights = numbers(attrs, `${prefix}_weights`);
  leafTrees.forEach((tree, w) => {
    const node = at(tree, leafNodes[w]!);
    const t = leafIds[w]!;
    if (!(t >= 0 && t < targets)) throw new NotTreeEnsembleError(`a leaf weighs target ${leafIds[w]} of ${targets}`);
    if (ensemble.mode[node] !== TreeMode.LEAF) throw new NotTreeEnsembleError(`node ${leafNodes[w]} of tree ${tree} has weights but is no leaf`);
    ensemble.leaf[node * targets + t]! += weights[w]! * scale;
  });
  const base = numbers(attrs, "base_values", true);
  if (base.length && base.length !== targets) throw new NotTreeEnsembleError(`base_values has ${base.length} values for ${targets} sums`);
  ensemble.base.set(base);
  return ensemble;
}

/** An attribute's numbers, from its list or its *_as_tensor form. */
function numbers(attrs: Map<string, AttributeProto>, name: string, optional = false): number[] {
  const a = attrs.get(name);
  if (a?.ints.length) return a.ints.map(Number);
  if (a?.floats.length) return [...a.floats];
  const tensor = attrs.get(`${name}_as_tensor`)?.t;
  const values = tensor && tensorNumbers(tensor);
  if (values) return values;
  if (optional || a) return [];
  throw new NotTreeEnsembleError(`the tree ensemble has no ${name}`);
}

function text(a: AttributeProto | undefined): string | undefined {
  return a ? new TextDecoder().decode(a.s) : undefined;
}

function shared<T extends Int32Array | Float64Array | Uint8Array>(Type: { new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }, length: number): T {
  return new Type(new SharedArrayBuffer(length * Type.BYTES_PER_ELEMENT));
}
