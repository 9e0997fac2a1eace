import { toTargets, type LabelInput } from "../labels.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { LinearRegressor } from "./linear-regressor.js";
import { leastSquares } from "./least-squares.js";

export type RidgeParams = {
  /** L2 strength: minimises ‖y − Xw − b‖² + alpha·‖w‖² (the intercept is not penalised). */
  alpha: number;
  fitIntercept: boolean;
};

/** sklearn's Ridge with its dense "cholesky" solver. */
export class Ridge extends LinearRegressor<RidgeParams> {
  constructor(params: Partial<RidgeParams> = {}) {
    super("Ridge", { alpha: 1, fitIntercept: true }, params);
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const { alpha, fitIntercept } = this.params;
    if (!(alpha >= 0 && Number.isFinite(alpha))) this.invalidParameter("alpha", "a finite number ≥ 0");
    const m = toMatrix(X, { copy: false });
    this.state = leastSquares(m, toTargets(y, m.rows), fitIntercept, alpha);
    return this;
  }

  static fromJSON(model: SerializedModel | string): Ridge {
    return BaseEstimator.restore((p) => new Ridge(p), model);
  }
}

registerLoader("Ridge", (m) => Ridge.fromJSON(m));
