import { toTargets, type LabelInput } from "../labels.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { Random } from "../random.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { lassoCoordinateDescent } from "./coordinate-descent.js";
import { LinearRegressor, type LinearRegressorState } from "./linear-regressor.js";
import { normalEquations } from "./normal-equations.js";
import { seedOf } from "./seed.js";

export type LassoParams = {
  /** L1 strength: minimises ‖y − Xw − b‖²/(2n) + alpha·‖w‖₁. */
  alpha: number;
  fitIntercept: boolean;
  maxIter: number;
  tol: number;
  /** Coefficients constrained to be ≥ 0. */
  positive: boolean;
  selection: "cyclic" | "random";
  /** Seed for selection "random"; null draws one. */
  randomState: number | null;
  /** Start from the previous fit's coefficients. */
  warmStart: boolean;
};

export interface LassoState extends LinearRegressorState {
  nIter: number;
  dualGap: number;
}

/** sklearn's Lasso: coordinate descent with its stopping rule (duality gap); irrelevant features get exactly 0. */
export class Lasso extends LinearRegressor<LassoParams, LassoState> {
  constructor(params: Partial<LassoParams> = {}) {
    super(
      "Lasso",
      { alpha: 1, fitIntercept: true, maxIter: 1000, tol: 1e-4, positive: false, selection: "cyclic", randomState: null, warmStart: false },
      params,
    );
  }

  /** Sweeps the last fit ran (sklearn's n_iter_). */
  get nIter(): number {
    return this.fittedState().nIter;
  }

  /** Duality gap at the end of the last fit, on sklearn's scale (dual_gap_); below tol·‖y‖²/n means converged. */
  get dualGap(): number {
    return this.fittedState().dualGap;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const p = this.params;
    if (!(p.alpha >= 0 && Number.isFinite(p.alpha))) this.invalidParameter("alpha", "a finite number ≥ 0");
    if (!(Number.isInteger(p.maxIter) && p.maxIter >= 1)) this.invalidParameter("maxIter", "an integer ≥ 1");
    if (!(p.tol >= 0)) this.invalidParameter("tol", "a number ≥ 0");
    if (p.selection !== "cyclic" && p.selection !== "random") this.invalidParameter("selection", '"cyclic" or "random"');
    const m = toMatrix(X, { copy: false });
    const ne = normalEquations(m, toTargets(y, m.rows), p.fitIntercept);
    const start = p.warmStart && this.state?.nFeatures === m.cols ? this.state.coef : undefined;
    const random = p.selection === "random" ? new Random(seedOf(p.randomState)) : undefined;
    const { coef, nIter, dualGap } = lassoCoordinateDescent(ne, { alpha: p.alpha, maxIter: p.maxIter, tol: p.tol, positive: p.positive, random, start });
    let intercept = 0;
    if (p.fitIntercept) {
      intercept = ne.yMean;
      for (let j = 0; j < ne.k; j++) intercept -= ne.xMean[j] * coef[j];
    }
    this.state = { nFeatures: m.cols, coef, intercept: Float64Array.of(intercept), nIter, dualGap };
    return this;
  }

  static fromJSON(model: SerializedModel | string): Lasso {
    return BaseEstimator.restore((p) => new Lasso(p), model);
  }
}

registerLoader("Lasso", (m) => Lasso.fromJSON(m));
