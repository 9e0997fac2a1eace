import type { LearningRate } from "./sgd-epoch.js";

/** Parameters SGDClassifier and SGDRegressor share, named and defaulted as sklearn's. */
export type SgdCommonParams = {
  penalty: "l2" | null;
  alpha: number;
  fitIntercept: boolean;
  maxIter: number;
  /** Stop when the epoch loss has not improved by tol·n for nIterNoChange epochs; null runs maxIter epochs. */
  tol: number | null;
  shuffle: boolean;
  randomState: number | null;
  learningRate: LearningRate;
  eta0: number;
  powerT: number;
  nIterNoChange: number;
  /** Start fit from the previous coefficients. */
  warmStart: boolean;
};

/** The first parameter that is out of range, as [name, requirement], or null. */
export function sgdParamProblem(p: SgdCommonParams): [string, string] | null {
  if (p.penalty !== "l2" && p.penalty !== null) return ["penalty", '"l2" or null'];
  if (!(p.alpha >= 0 && Number.isFinite(p.alpha))) return ["alpha", "a finite number ≥ 0"];
  if (p.learningRate === "optimal" && p.alpha === 0) return ["alpha", 'greater than 0 with learningRate "optimal"'];
  if (!["constant", "optimal", "invscaling", "adaptive"].includes(p.learningRate)) return ["learningRate", '"constant", "optimal", "invscaling" or "adaptive"'];
  if (p.learningRate !== "optimal" && !(p.eta0 > 0)) return ["eta0", `greater than 0 with learningRate "${p.learningRate}"`];
  if (!(Number.isInteger(p.maxIter) && p.maxIter >= 1)) return ["maxIter", "an integer ≥ 1"];
  if (p.tol !== null && !(p.tol >= 0)) return ["tol", "a number ≥ 0 or null"];
  if (!(Number.isInteger(p.nIterNoChange) && p.nIterNoChange >= 1)) return ["nIterNoChange", "an integer ≥ 1"];
  return null;
}
