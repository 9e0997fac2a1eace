import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { OnnxOutputs, Params, Regressor } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import type { MatrixInput } from "../matrix.js";
import { r2Score } from "../metrics.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { linearScores } from "./linear-scores.js";
import { linearScoresOnnx, toFloat32Onnx } from "./onnx-linear.js";

export interface LinearRegressorState extends FittedState {
  coef: Float64Array;
  /** One value, kept as a typed array so -0 and every bit survive JSON. */
  intercept: Float64Array;
}

/** y = X·w + b: prediction, R² and ONNX for LinearRegression, Ridge, Lasso and SGDRegressor. */
export abstract class LinearRegressor<P extends Params, S extends LinearRegressorState = LinearRegressorState>
  extends BaseEstimator<P, S>
  implements Regressor
{
  abstract fit(X: MatrixInput, y: LabelInput): this;

  /** sklearn's coef_ (a copy). */
  get coef(): Float64Array {
    return this.fittedState().coef.slice();
  }

  /** sklearn's intercept_. */
  get intercept(): number {
    return this.fittedState().intercept[0];
  }

  predict(X: MatrixInput): Float64Array {
    const { m, state } = this.checkedInput(X);
    return linearScores(m, state.coef, state.intercept);
  }

  score(X: MatrixInput, y: LabelInput): number {
    return r2Score(y, this.predict(X));
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const state = this.fittedState();
    const scores = linearScoresOnnx(graph, input, prefix, state.coef, state.intercept);
    return { kind: "regression", variable: toFloat32Onnx(graph, scores, `${prefix}_prediction`) };
  }
}
