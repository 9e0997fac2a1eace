import { encodeClasses, type LabelInput } from "../labels.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { minimizeLbfgs } from "./lbfgs.js";
import { LinearClassifier, sameClasses, type LinearClassifierState } from "./linear-classifier.js";
import { logisticObjective } from "./logistic-objective.js";
import { standardized } from "./standardized-objective.js";
import type { ProbabilityLink } from "./probabilities.js";

export type LogisticRegressionParams = {
  /** "l2" or null (no penalty). */
  penalty: "l2" | null;
  /** Inverse L2 strength, as sklearn's C. */
  C: number;
  fitIntercept: boolean;
  /** Stop when max |gradient| of the summed objective (in internally standardized coordinates) is ≤ tol. */
  tol: number;
  maxIter: number;
  solver: "lbfgs";
  /** Start from the previous fit's coefficients when the classes and width are the same. */
  warmStart: boolean;
};

export interface LogisticRegressionState extends LinearClassifierState {
  nIter: number;
  converged: boolean;
}

/**
 * sklearn's LogisticRegression with solver "lbfgs": binary logistic for two classes,
 * multinomial (softmax) for more, L2 penalty 1/(2C)·‖W‖² on the summed log-loss.
 */
export class LogisticRegression extends LinearClassifier<LogisticRegressionParams, LogisticRegressionState> {
  constructor(params: Partial<LogisticRegressionParams> = {}) {
    super("LogisticRegression", { penalty: "l2", C: 1, fitIntercept: true, tol: 1e-4, maxIter: 100, solver: "lbfgs", warmStart: false }, params);
  }

  /** L-BFGS iterations of the last fit (sklearn's n_iter_). */
  get nIter(): number {
    return this.fittedState().nIter;
  }

  /** Whether the last fit reached tol within maxIter (sklearn warns with a ConvergenceWarning when not). */
  get converged(): boolean {
    return this.fittedState().converged;
  }

  protected link(): ProbabilityLink {
    return "softmax";
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const p = this.params;
    if (p.penalty !== "l2" && p.penalty !== null) this.invalidParameter("penalty", '"l2" or null');
    if (!(p.C > 0 && Number.isFinite(p.C))) this.invalidParameter("C", "a finite number > 0");
    if (!(Number.isInteger(p.maxIter) && p.maxIter >= 0)) this.invalidParameter("maxIter", "an integer ≥ 0");
    if (!(p.tol >= 0)) this.invalidParameter("tol", "a number ≥ 0");
    if (p.solver !== "lbfgs") this.invalidParameter("solver", '"lbfgs"');
    const m = toMatrix(X, { copy: false });
    const { classes, index } = encodeClasses(y, m.rows);
    const outputs = classes.length === 2 ? 1 : classes.length;
    const l2 = p.penalty === "l2" ? 1 / (p.C * m.rows) : 0;
    const k = m.cols;
    let start: Float64Array = new Float64Array(outputs * k + (p.fitIntercept ? outputs : 0));
    const previous = this.state;
    if (p.warmStart && previous && previous.nFeatures === k && sameClasses(previous.classes, classes)) {
      start.set(previous.coef);
      if (p.fitIntercept) start.set(previous.intercept, outputs * k);
    }
    const problem = standardized(logisticObjective(m, index, outputs, p.fitIntercept, l2), m, outputs, p.fitIntercept);
    start = problem.fromOriginal(start);
    // tol bounds the gradient of the summed loss (sklearn ≤ 1.3's scale), i.e. tol/n on the mean.
    const result = minimizeLbfgs(problem.objective, start, { maxIter: p.maxIter, gtol: p.tol / m.rows });
    const solution = problem.toOriginal(result.x);
    const coef = solution.slice(0, outputs * k);
    const intercept = p.fitIntercept ? solution.slice(outputs * k) : new Float64Array(outputs);
    this.state = { nFeatures: k, classes, coef, intercept, nIter: result.iterations, converged: result.converged };
    return this;
  }

  static fromJSON(model: SerializedModel | string): LogisticRegression {
    return BaseEstimator.restore((p) => new LogisticRegression(p), model);
  }
}

registerLoader("LogisticRegression", (m) => LogisticRegression.fromJSON(m));
