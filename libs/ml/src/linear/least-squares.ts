import type { Matrix } from "../matrix.js";
import type { LinearRegressorState } from "./linear-regressor.js";
import { normalEquations } from "./normal-equations.js";
import { solveSymmetric } from "./solve-symmetric.js";

/** Least squares with an optional L2 penalty on the coefficients (not the intercept), solved on centered data. */
export function leastSquares(m: Matrix, y: Float64Array, fitIntercept: boolean, alpha: number): LinearRegressorState {
  const ne = normalEquations(m, y, fitIntercept);
  const coef = solveSymmetric(ne.gram, ne.xty, ne.k, alpha);
  let intercept = 0;
  if (fitIntercept) {
    intercept = ne.yMean;
    for (let j = 0; j < ne.k; j++) intercept -= ne.xMean[j] * coef[j];
  }
  return { nFeatures: m.cols, coef, intercept: Float64Array.of(intercept) };
}
