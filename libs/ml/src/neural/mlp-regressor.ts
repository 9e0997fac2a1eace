import type { OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { Incremental, OnnxOutputs, Params, Regressor, TrainingCallback } from "../estimator.js";
import { InvalidInputError } from "../errors.js";
import { toTargets, type LabelInput } from "../labels.js";
import { BaseEstimator } from "../base-estimator.js";
import { checkWidth, toMatrix, type MatrixInput } from "../matrix.js";
import { r2Score } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { MLPBase, pick } from "./mlp-base.js";
import type { MLPParams, NetworkState } from "./training.js";

export type MLPRegressorParams = MLPParams & Params;

/** sklearn's MLPRegressor with Adam: identity output, half squared error plus L2; partialFit trains one epoch per call. */
export class MLPRegressor extends MLPBase<MLPRegressorParams, NetworkState> implements Regressor, Incremental {
  constructor({ onEpoch, ...params }: Partial<MLPRegressorParams> & { onEpoch?: TrainingCallback } = {}) {
    super("MLPRegressor", {}, params, onEpoch);
  }

  static fromJSON(model: SerializedModel | string): MLPRegressor {
    return BaseEstimator.restore((p) => new MLPRegressor(p), model);
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    const target = toTargets(y, m.rows);
    this.train(m, target, "identity", {}, (_, rows) => r2Score(Float64Array.from(rows, (r) => target[r]), this.predict(pick(m, rows))));
    return this;
  }

  partialFit(X: MatrixInput, y?: LabelInput): this {
    const m = toMatrix(X);
    if (!y) throw new InvalidInputError(`${this.kind}.partialFit needs y`, "MISSING_TARGET");
    if (this.state) checkWidth(m, this.state.nFeatures, this.kind);
    this.trainIncrementally(m, toTargets(y, m.rows), "identity", () => ({}));
    return this;
  }

  predict(X: MatrixInput): Float64Array {
    const { m } = this.checkedInput(X);
    return this.outputs(m);
  }

  score(X: MatrixInput, y: LabelInput): number {
    const predicted = this.predict(X);
    return r2Score(y, predicted);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    return { kind: "regression", variable: this.exportNetwork(graph, input, prefix) };
  }
}

registerLoader("MLPRegressor", (m) => MLPRegressor.fromJSON(m));
registerEstimator("MLPRegressor", (p, onEpoch) => new MLPRegressor({ ...p, onEpoch }));
