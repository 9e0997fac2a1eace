import { toTargets, type LabelInput } from "../labels.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { LinearRegressor } from "./linear-regressor.js";
import { leastSquares } from "./least-squares.js";

export type LinearRegressionParams = {
  fitIntercept: boolean;
};

/** Ordinary least squares (sklearn's LinearRegression); the minimum-norm solution when columns are collinear. */
export class LinearRegression extends LinearRegressor<LinearRegressionParams> {
  constructor(params: Partial<LinearRegressionParams> = {}) {
    super("LinearRegression", { fitIntercept: true }, params);
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    this.state = leastSquares(m, toTargets(y, m.rows), this.params.fitIntercept, 0);
    return this;
  }

  static fromJSON(model: SerializedModel | string): LinearRegression {
    return BaseEstimator.restore((p) => new LinearRegression(p), model);
  }
}

registerLoader("LinearRegression", (m) => LinearRegression.fromJSON(m));
