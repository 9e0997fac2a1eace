import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { ClassLabel, LabelInput } from "./labels.js";
import type { Matrix, MatrixInput } from "./matrix.js";
import type { SerializedModel } from "./serialize.js";

export type Params = Record<string, unknown>;

/** Called by iterative estimators (SGD, MLP, boosting, k-means) once per epoch/iteration. */
export type TrainingCallback = (progress: { epoch: number; loss?: number; metrics?: Record<string, number> }) => void;

/** What every estimator has, sklearn-shaped. */
export interface Estimator {
  /** Class name, e.g. "LogisticRegression": the key in serialized models. */
  readonly kind: string;
  readonly fitted: boolean;
  /** Width of X seen by fit. */
  readonly nFeatures: number;
  /**
   * Whether predict/transform take NaN as a missing value (SimpleImputer, a Pipeline that
   * starts with one); every other estimator refuses NaN and ±Infinity (NON_FINITE_INPUT).
   */
  readonly takesMissingValues: boolean;
  /**
   * Whether it predicts (classifiers, regressors, clusterers); a transformer (a scaler, PCA,
   * an encoder) only transforms. A Pipeline predicts when its last step does.
   */
  readonly predicts: boolean;
  getParams(): Params;
  setParams(params: Params): this;
  /** The fitted state as a versioned JSON document (typed arrays encoded); see serialize.ts. */
  toJSON(): SerializedModel;
  /** The fitted model as ONNX bytes: input "X" float32 [N, nFeatures]. */
  toOnnx(): Uint8Array;
  /**
   * Adds this estimator's nodes to a graph reading `input` (float32 [N, nFeatures]),
   * naming everything with `prefix`; returns the names of what it produces. Pipelines
   * chain estimators through this.
   */
  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs;
}

export type OnnxOutputs =
  /** Transformers: the transformed matrix, float32 [N, width]. */
  | { kind: "transform"; variable: string; width: number }
  /** Regressors: float32 [N, 1] (sklearn-onnx's "variable"). */
  | { kind: "regression"; variable: string }
  /** Classifiers: label [N] (int64 or string, like the classes) and probabilities float32 [N, classes]. */
  | { kind: "classification"; label: string; probabilities: string; classes: number; labelType?: "int64" | "string" };

export interface Regressor extends Estimator {
  fit(X: MatrixInput, y: LabelInput): this;
  predict(X: MatrixInput): Float64Array;
  /** R². */
  score(X: MatrixInput, y: LabelInput): number;
}

export interface Classifier extends Estimator {
  readonly classes: ClassLabel[];
  fit(X: MatrixInput, y: LabelInput): this;
  predict(X: MatrixInput): ClassLabel[];
  /** rows × classes, in the order of `classes`. */
  predictProba(X: MatrixInput): Matrix;
  /** Accuracy. */
  score(X: MatrixInput, y: LabelInput): number;
}

export interface Transformer extends Estimator {
  fit(X: MatrixInput, y?: LabelInput): this;
  transform(X: MatrixInput): Matrix;
  fitTransform(X: MatrixInput, y?: LabelInput): Matrix;
}

export interface Clusterer extends Estimator {
  fit(X: MatrixInput): this;
  /** Cluster index per row. */
  predict(X: MatrixInput): Int32Array;
  /** Distance to each cluster centre (sklearn's transform). */
  transform(X: MatrixInput): Matrix;
}

/** Estimators that learn from batches: sklearn's partial_fit. */
export interface Incremental {
  /** Classifiers need `classes` on the first call, as in sklearn. */
  partialFit(X: MatrixInput, y?: LabelInput, options?: { classes?: ClassLabel[] }): this;
}
