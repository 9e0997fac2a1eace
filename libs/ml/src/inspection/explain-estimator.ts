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
  /** [rows, outputs]: the estimator's outputs for X; base + Σ values. */
  outputs: Float64Array;
  method: ShapleyMethod;
  rows: number;
  features: number;
}

/**
 * Shapley values of a fitted estimator's outputs (a regressor's predictions, a classifier's
 * probabilities) on X's rows against background rows, in this process: SHAP's
 * Explainer(model, background) for Kiln's estimators. An EXPLAIN job does the same on the
 * executors, with the model's ONNX graph.
 */
export async function explainEstimator(estimator: Estimator, X: MatrixInput, background: MatrixInput, options: Omit<ShapleyOptions, "allocate"> = {}): Promise<EstimatorExplanation> {
  const model = estimatorModel(estimator);
  const allowNaN = estimator.takesMissingValues;
  const x = toMatrix(X, { allowNaN });
  const b = toMatrix(background, { allowNaN });
  if (b.cols !== x.cols) throw new InvalidInputError(`X has ${x.cols} features and the background ${b.cols}`, "FEATURE_COUNT");
  const explainer = new ShapleyExplainer(model, b.data, x.cols, options);
  const { values, outputs } = await explainer.explain(x.data, x.rows);
  return { values, base: await explainer.base(), outputs, method: explainer.method, rows: x.rows, features: x.cols };
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
