import type { OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { OnnxOutputs, Params, Regressor, TrainingCallback } from "../estimator.js";
import { toTargets, type LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { r2Score } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import type { Tree } from "../tree/tree.js";
import { treeRegressor } from "../tree/onnx.js";
import { SquaredError } from "./boosting-loss.js";
import { boost, BOOSTING_DEFAULTS, rawScores, type Boosted, type BoostingParams } from "./boosting.js";

export interface HistGradientBoostingRegressorParams extends BoostingParams, Params {
  loss: "squared_error";
}

type State = FittedState & Boosted;

/**
 * sklearn's HistGradientBoostingRegressor (squared error, 255 bins, best-first trees of 31 leaves,
 * early stopping on a 10% hold-out above 10,000 rows). `onEpoch` reports the loss after each iteration.
 */
export class HistGradientBoostingRegressor extends BaseEstimator<HistGradientBoostingRegressorParams, State> implements Regressor {
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<HistGradientBoostingRegressorParams> & { onEpoch?: TrainingCallback } = {}) {
    super("HistGradientBoostingRegressor", { loss: "squared_error", ...BOOSTING_DEFAULTS }, params);
    this.onEpoch = onEpoch;
  }

  static fromJSON(model: SerializedModel | string): HistGradientBoostingRegressor {
    return BaseEstimator.restore((p) => new HistGradientBoostingRegressor(p), model);
  }

  /** Iterations run (fewer than maxIter when early stopping ended training). */
  get nIter(): number {
    return this.fittedState().trees.length;
  }

  /** Iteration-major: with k raw scores, tree t adds to score t % k. */
  get trees(): Tree[] {
    return this.fittedState().trees;
  }

  get trainLoss(): Float64Array {
    return this.fittedState().trainLoss;
  }

  get validationLoss(): Float64Array {
    return this.fittedState().validationLoss;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    const target = toTargets(y, m.rows);
    if (this.params.loss !== "squared_error") this.invalidParameter("loss", `"squared_error"`);
    this.state = { nFeatures: m.cols, ...boost(m, new SquaredError(target), this.params, this.kind, this.onEpoch) };
    return this;
  }

  predict(X: MatrixInput): Float64Array {
    const { m, state } = this.checkedInput(X);
    return rawScores(state, m);
  }

  score(X: MatrixInput, y: LabelInput): number {
    const predicted = this.predict(X);
    return r2Score(y, predicted);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { trees, baseline } = this.fittedState();
    const variable = `${prefix}_variable`;
    treeRegressor(graph, input, variable, trees, { nTargets: 1, baseValues: Array.from(baseline) });
    return { kind: "regression", variable };
  }
}

/** The name the issue uses; the algorithm is sklearn's histogram variant. */
export const GradientBoostingRegressor = HistGradientBoostingRegressor;
export type GradientBoostingRegressor = HistGradientBoostingRegressor;

registerLoader("HistGradientBoostingRegressor", (m) => HistGradientBoostingRegressor.fromJSON(m));
registerEstimator("HistGradientBoostingRegressor", (p, onEpoch) => new HistGradientBoostingRegressor({ ...p, onEpoch }));
registerEstimator("GradientBoostingRegressor", (p, onEpoch) => new HistGradientBoostingRegressor({ ...p, onEpoch }));
