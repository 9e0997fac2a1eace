import type { Incremental, TrainingCallback } from "../estimator.js";
import { toTargets, type LabelInput } from "../labels.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { LinearRegressor, type LinearRegressorState } from "./linear-regressor.js";
import { seedOf } from "./seed.js";
import { squaredError } from "./sgd-losses.js";
import { sgdParamProblem, type SgdCommonParams } from "./sgd-params.js";
import { runSgd } from "./sgd-training.js";

export type SGDRegressorParams = SgdCommonParams & {
  loss: "squared_error";
};

export interface SgdRegressorState extends LinearRegressorState {
  /** Samples seen, from 1 (sklearn's t_): where the learning-rate schedule resumes. */
  t: number;
  epochs: number;
  seed: number;
  nIter: number;
}

const DEFAULTS: SGDRegressorParams = {
  loss: "squared_error",
  penalty: "l2",
  alpha: 1e-4,
  fitIntercept: true,
  maxIter: 1000,
  tol: 1e-3,
  shuffle: true,
  randomState: null,
  learningRate: "invscaling",
  eta0: 0.01,
  powerT: 0.25,
  nIterNoChange: 5,
  warmStart: false,
};

/** sklearn's SGDRegressor (squared error, L2), with partialFit over batches. */
export class SGDRegressor extends LinearRegressor<SGDRegressorParams, SgdRegressorState> implements Incremental {
  /** Called after every epoch with the mean per-sample loss; not a parameter, not serialized. */
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<SGDRegressorParams> & { onEpoch?: TrainingCallback } = {}) {
    super("SGDRegressor", DEFAULTS, params);
    this.onEpoch = onEpoch;
  }

  /** Epochs of the last fit (sklearn's n_iter_). */
  get nIter(): number {
    return this.fittedState().nIter;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    this.validate();
    const m = toMatrix(X);
    const fresh = this.initialState(m.cols);
    const previous = this.params.warmStart ? this.state : undefined;
    if (previous && previous.nFeatures === m.cols) {
      fresh.coef.set(previous.coef);
      fresh.intercept.set(previous.intercept);
    }
    this.state = this.train(fresh, m, toTargets(y, m.rows), this.params.maxIter, this.params.tol);
    return this;
  }

  /** One epoch over the batch, continuing the learning-rate schedule. */
  partialFit(X: MatrixInput, y: LabelInput): this {
    this.validate();
    const m = toMatrix(X);
    if (this.state) checkWidth(m, this.state.nFeatures, this.kind);
    this.state = this.train(this.state ?? this.initialState(m.cols), m, toTargets(y, m.rows), 1, null);
    return this;
  }

  static fromJSON(model: SerializedModel | string): SGDRegressor {
    return BaseEstimator.restore((p) => new SGDRegressor(p), model);
  }

  private validate(): void {
    const problem = sgdParamProblem(this.params);
    if (problem) this.invalidParameter(...problem);
    if (this.params.loss !== "squared_error") this.invalidParameter("loss", '"squared_error"');
  }

  private initialState(k: number): SgdRegressorState {
    return { nFeatures: k, coef: new Float64Array(k), intercept: new Float64Array(1), t: 1, epochs: 0, seed: seedOf(this.params.randomState), nIter: 0 };
  }

  private train(state: SgdRegressorState, m: Matrix, y: Float64Array, maxEpochs: number, tol: number | null): SgdRegressorState {
    const p = this.params;
    const coef = state.coef.slice();
    const intercept = state.intercept.slice();
    const { epochs, t } = runSgd(m, {
      targets: [y],
      coef,
      intercept,
      settings: { loss: squaredError, alpha: p.alpha, penalty: p.penalty, fitIntercept: p.fitIntercept, learningRate: p.learningRate, eta0: p.eta0, powerT: p.powerT },
      t: state.t,
      epochsBefore: state.epochs,
      seed: state.seed,
      shuffle: p.shuffle,
      maxEpochs,
      tol,
      nIterNoChange: p.nIterNoChange,
      onEpoch: this.onEpoch,
    });
    return { ...state, coef, intercept, t, epochs: state.epochs + epochs, nIter: epochs };
  }
}

registerLoader("SGDRegressor", (m) => SGDRegressor.fromJSON(m));
