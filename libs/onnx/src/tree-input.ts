import type { AttributeProto, GraphProto, NodeProto, TensorProto } from "onnx-buf";
import { NotTreeEnsembleError } from "./errors.js";
import { tensorNumbers } from "./tensor-numbers.js";

/** How a tree ensemble's input is computed from the model's. */
export interface EnsembleInput {
  /** The model's input as it is (through Identity and Cast only): the trees read its columns. */
  direct: boolean;
  /** Each column of the ensemble's input: the model input's column it is computed from alone (null: the same columns). */
  columns: number[] | null;
}

/** Ops that pass their input on as it is (a Cast between float types changes no tree's answer). */
export const PASS_THROUGH = new Set(["Identity", "Cast"]);
/** Ops that compute each element from the same element of their inputs (and constants broadcast along the rows). */
const ELEMENTWISE = new Set([
  ...["IsNaN", "IsInf", "Abs", "Neg", "Floor", "Ceil", "Round", "Sqrt", "Exp", "Log", "Reciprocal", "Sign", "Sigmoid", "Tanh", "Relu", "Not", "Clip"],
  ...["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Where"],
]);
/** ai.onnx.ml ops that transform each feature on its own (sklearn-onnx's scalers and imputers). */
const ML_PER_FEATURE = new Set(["Scaler", "Imputer", "Binarizer"]);

/**
 * Traces the ensemble's input `tensor` back to the model's input `input` through
 * per-feature preprocessing only: elementwise ops whose other operands are constants of one
 * value a column (a scaler's Sub and Div, an imputer's Where(IsNaN(x), fill, x)), Gather of
 * constant columns, and ai.onnx.ml's Scaler, Imputer and Binarizer. Each of the trees'
 * features is then one feature of the model's input, so Shapley values over the trees'
 * features are those over the model's. Anything else (a row-wise Normalizer, a MatMul, a
 * one-hot encoding that makes several columns of one) throws NotTreeEnsembleError.
 */
export function traceEnsembleInput(graph: GraphProto, producers: Map<string, NodeProto>, input: string, tensor: string, ensemble: string): EnsembleInput {
  const constants = new Map(graph.initializer.map((t) => [t.name, t]));
  const constantOf = (name: string): TensorProto | undefined => {
    const node = producers.get(name);
    return node?.opType === "Constant" ? node.attribute.find((a) => a.name === "value")?.t : constants.get(name);
  };
  const trace = (name: string): EnsembleInput => {
    if (name === input) return { direct: true, columns: null };
    const node = producers.get(name);
    if (!node || constantOf(name)) throw new NotTreeEnsembleError(`the ${ensemble}'s input "${tensor}" does not come from the model's input "${input}"`);
    const op = node.domain === "ai.onnx.ml" ? (ML_PER_FEATURE.has(node.opType) ? "per-feature" : node.opType) : node.opType;
    if (PASS_THROUGH.has(op) && node.domain === "") return trace(node.input[0]!);
    if (op === "per-feature") return { direct: false, columns: trace(node.input[0]!).columns };
    if (op === "Gather" && node.domain === "") return gathered(node);
    if (!ELEMENTWISE.has(op) || node.domain !== "") throw new NotTreeEnsembleError(`the ${ensemble} reads the model's input through ${aNode(op)}, which mixes or multiplies its features`);
    const derived = node.input.filter((i) => i && !constantOf(i));
    for (const i of node.input) {
      const t = i ? constantOf(i) : undefined;
      if (t && !perColumn(t)) throw new NotTreeEnsembleError(`the ${ensemble} reads the model's input through ${op} with "${i}", not one value a column`);
    }
    const traced = derived.map(trace);
    const columns = traced[0]!.columns;
    if (traced.some((t) => String(t.columns) !== String(columns))) throw new NotTreeEnsembleError(`the ${ensemble} reads the model's input through ${op} of differently chosen columns`);
    return { direct: false, columns };
  };
  const gathered = (node: NodeProto): EnsembleInput => {
    const axis = Number(node.attribute.find((a: AttributeProto) => a.name === "axis")?.i ?? 0);
    const indices = node.input[1] ? constantOf(node.input[1]) : undefined;
    const picked = indices && tensorNumbers(indices);
    if (axis !== 1 || !picked) throw new NotTreeEnsembleError(`the ${ensemble} reads the model's input through a Gather that is no choice of columns`);
    const from = trace(node.input[0]!).columns;
    return { direct: false, columns: picked.map((j) => (from ? from[j]! : j)) };
  };
  const found = trace(tensor);
  if (found.columns && new Set(found.columns).size !== found.columns.length) {
    throw new NotTreeEnsembleError(`the ${ensemble} reads some of the model's features more than once`);
  }
  return found;
}

/** A constant broadcast one value a column: a scalar, [k], or [1, k]. */
function perColumn(t: TensorProto): boolean {
  const dims = t.dims.map(Number);
  return dims.length <= 1 || (dims.length === 2 && dims[0] === 1);
}

/** "a MatMul node", "an Identity node". */
export function aNode(op: string): string {
  return `a${/^[AEIOU]/.test(op) ? "n" : ""} ${op} node`;
}
