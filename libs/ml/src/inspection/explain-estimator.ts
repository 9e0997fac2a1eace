import { asFloat32Values, NotTreeEnsembleError, readTreeEnsemble, treeBase, treeColumns, treeOutputSpace, treeShap } from "@kiln/onnx";
import type { Estimator } from "../estimator.js";
import { InvalidInputError } from "../errors.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { isClassifier } from "../model-selection.js";
import { ShapleyExplainer, type BatchModel, type ShapleyMethod, type ShapleyOptions } from "./shapley.js";

type Explainable = Estimator & { predict?(X: MatrixInput): ArrayLike<unknown>; predictProba?(X: MatrixInput): Matrix };

export interface EstimatorExplanation {
  /** [rows, features, outputs]: a regressor has one output, a classifier one per class (in `classes` order). */
  values: Float64Array;
  /** [outputs]: the mean output over the background. */
  base: Float64Array;
  /** [rows, outputs]: the estimator's outputs for X (their margins, for a "margin" space); base + Σ values. */
  outputs: Float64Array;
  method: ShapleyMethod | "tree";
  /** "margin" for the tree method on a boosted classifier: its log-odds, before the sigmoid or softmax. */
  space: "output" | "margin";
  rows: number;
  features: number;
}

export interface ExplainEstimatorOptions extends Omit<ShapleyOptions, "allocate" | "method"> {
  /**
   * ShapleyExplainer's methods, or "tree": Tree SHAP on the estimator's ONNX export (its
   * float32 thresholds and sums, as an executor runs it), for trees, forests and boosted
   * ensembles: exact for any number of features, a boosted classifier's margins.
   */
  method?: ShapleyMethod | "auto" | "tree";
}

/**
 * Shapley values of a fitted estimator's outputs (a regressor's predictions, a classifier's
 * probabilities) on X's rows against background rows, in this process: SHAP's
 * Explainer(model, background) for Kiln's estimators. An EXPLAIN job does the same on the
 * executors, with the model's ONNX graph.
 */
export async function explainEstimator(estimator: Estimator, X: MatrixInput, background: MatrixInput, options: ExplainEstimatorOptions = {}): Promise<EstimatorExplanation> {
  const model = estimatorModel(estimator);
  const allowNaN = estimator.takesMissingValues;
  const x = toMatrix(X, { allowNaN });
  const b = toMatrix(background, { allowNaN });
  if (b.cols !== x.cols) throw new InvalidInputError(`X has ${x.cols} features and the background ${b.cols}`, "FEATURE_COUNT");
  if (options.method === "tree") return explainTrees(estimator, x, b);
  const explainer = new ShapleyExplainer(model, b.data, x.cols, { ...options, method: options.method });
  const { values, outputs } = await explainer.explain(x.data, x.rows);
  return { values, base: await explainer.base(), outputs, method: explainer.method, space: "output", rows: x.rows, features: x.cols };
}

/** Tree SHAP of the estimator's ONNX export, its rows rounded to the float32 the export takes. */
function explainTrees(estimator: Estimator, x: Matrix, b: Matrix): EstimatorExplanation {
  let reading;
  try {
    reading = readTreeEnsemble(estimator.toOnnx(), "X", isClassifier(estimator) ? "probabilities" : "variable");
  } catch (e) {
    if (!(e instanceof NotTreeEnsembleError)) throw e;
    throw new InvalidInputError(`method "tree" explains trees and their ensembles, not ${estimator.kind} (${e.message})`, "NOT_A_TREE_ENSEMBLE");
  }
  if (reading.preprocessed) {
    // What the trees read is the graph's to compute (onnxruntime on an executor), not this process's.
    throw new InvalidInputError(`method "tree" explains ${estimator.kind}'s trees behind its preprocessing on an executor (an EXPLAIN job); here, use "exact" or "permutation"`, "NOT_A_TREE_ENSEMBLE");
  }
  const rows = asFloat32Values(x.data);
  const backgroundRows = asFloat32Values(b.data);
  const { values, sums } = treeShap(reading.ensemble, rows, x.rows, backgroundRows, x.cols);
  return {
    values: treeColumns(reading, values),
    base: treeBase(reading, backgroundRows, b.rows, x.cols),
    outputs: treeColumns(reading, sums),
    method: "tree",
    space: treeOutputSpace(reading),
    rows: x.rows,
    features: x.cols,
  };
}

/** The estimator as the explainer's model: predictions, or a classifier's probabilities. */
export function estimatorModel(estimator: Estimator): BatchModel {
  const e = estimator as Explainable;
  if (!e.predicts) throw new InvalidInputError(`${estimator.kind} only transforms: it predicts nothing to explain`, "NOT_EXPLAINABLE");
  const classifier = isClassifier(estimator);
  return async (rows, count) => {
    const X = { data: rows, shape: [count, rows.length / count] as const };
    if (classifier) return Float64Array.from(e.predictProba!(X).data);
    const predicted = e.predict!(X);
    // A clusterer's labels (Int32Array) are no quantity to share out.
    if (!(predicted instanceof Float64Array)) throw new InvalidInputError(`${estimator.kind} predicts labels without probabilities: explanations take regressors and classifiers`, "NOT_EXPLAINABLE");
    return predicted;
  };
}
