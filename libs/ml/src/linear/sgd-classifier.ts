import { InvalidInputError } from "../errors.js";
import type { Incremental, TrainingCallback } from "../estimator.js";
import { encodeClasses, indexOfClasses, type ClassLabel, type LabelInput } from "../labels.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { BaseEstimator } from "../base-estimator.js";
import { LinearClassifier, sameClasses, type LinearClassifierState } from "./linear-classifier.js";
import type { ProbabilityLink } from "./probabilities.js";
import { seedOf } from "./seed.js";
import { hinge, logLoss } from "./sgd-losses.js";
import { sgdParamProblem, type SgdCommonParams } from "./sgd-params.js";
import { runSgd } from "./sgd-training.js";

export type SGDClassifierParams = SgdCommonParams & {
  /** "hinge" (linear SVM, sklearn's default) or "log_loss" (logistic regression, with predictProba). */
  loss: "hinge" | "log_loss";
};

export interface SgdClassifierState extends LinearClassifierState {
  /** Samples seen, from 1 (sklearn's t_): where the learning-rate schedule resumes. */
  t: number;
  /** Epochs run over the estimator's life, so partialFit shuffles never repeat. */
  epochs: number;
  seed: number;
  nIter: number;
}

const DEFAULTS: SGDClassifierParams = {
  loss: "hinge",
  penalty: "l2",
  alpha: 1e-4,
  fitIntercept: true,
  maxIter: 1000,
  tol: 1e-3,
  shuffle: true,
  randomState: null,
  learningRate: "optimal",
  eta0: 0,
  powerT: 0.5,
  nIterNoChange: 5,
  warmStart: false,
};

/** sklearn's SGDClassifier: one-vs-rest linear models trained by plain SGD, with partialFit over batches. */
export class SGDClassifier extends LinearClassifier<SGDClassifierParams, SgdClassifierState> implements Incremental {
  /** Called after every epoch with the mean per-sample loss; not a parameter, not serialized. */
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<SGDClassifierParams> & { onEpoch?: TrainingCallback } = {}) {
    super("SGDClassifier", DEFAULTS, params);
    this.onEpoch = onEpoch;
  }

  /** Epochs of the last fit (the most any one-vs-rest output ran), as sklearn's n_iter_. */
  get nIter(): number {
    return this.fittedState().nIter;
  }

  protected link(): ProbabilityLink {
    return this.params.loss === "log_loss" ? "logistic" : "none";
  }

  fit(X: MatrixInput, y: LabelInput): this {
    this.validate();
    const m = toMatrix(X);
    const { classes, index } = encodeClasses(y, m.rows);
    const previous = this.params.warmStart ? this.state : undefined;
    const fresh = this.initialState(m.cols, classes);
    if (previous && previous.nFeatures === m.cols && sameClasses(previous.classes, classes)) {
      fresh.coef.set(previous.coef);
      fresh.intercept.set(previous.intercept);
    }
    this.state = this.train(fresh, m, index, this.params.maxIter, this.params.tol);
    return this;
  }

  /** One epoch over the batch; `classes` (every class that will ever appear) is needed on the first call, as in sklearn. */
  partialFit(X: MatrixInput, y: LabelInput, options: { classes?: ClassLabel[] } = {}): this {
    this.validate();
    const m = toMatrix(X);
    let state = this.state;
    if (!state) {
      if (!options.classes) throw new InvalidInputError("the first partialFit call needs options.classes (every class y will contain)", "CLASSES_REQUIRED");
      state = this.initialState(m.cols, encodeClasses(options.classes, options.classes.length).classes);
    } else {
      checkWidth(m, state.nFeatures, this.kind);
      if (options.classes && !sameClasses(encodeClasses(options.classes, options.classes.length).classes, state.classes)) {
        throw new InvalidInputError(`classes ${options.classes.join(", ")} differ from the first partialFit's ${state.classes.join(", ")}`, "CLASSES_CHANGED");
      }
    }
    this.state = this.train(state, m, indexOfClasses(y, m.rows, state.classes), 1, null);
    return this;
  }

  static fromJSON(model: SerializedModel | string): SGDClassifier {
    return BaseEstimator.restore((p) => new SGDClassifier(p), model);
  }

  private validate(): void {
    const problem = sgdParamProblem(this.params);
    if (problem) this.invalidParameter(...problem);
    if (this.params.loss !== "hinge" && this.params.loss !== "log_loss") this.invalidParameter("loss", '"hinge" or "log_loss"');
  }

  private initialState(k: number, classes: ClassLabel[]): SgdClassifierState {
    const outputs = classes.length === 2 ? 1 : classes.length;
    const seed = seedOf(this.params.randomState);
    return { nFeatures: k, classes, coef: new Float64Array(outputs * k), intercept: new Float64Array(outputs), t: 1, epochs: 0, seed, nIter: 0 };
  }

  private train(state: SgdClassifierState, m: Matrix, index: Int32Array, maxEpochs: number, tol: number | null): SgdClassifierState {
    const p = this.params;
    const outputs = state.intercept.length;
    const targets = Array.from({ length: outputs }, (_, c) => {
      const positive = outputs === 1 ? 1 : c;
      return Float64Array.from(index, (i) => (i === positive ? 1 : -1));
    });
    const coef = state.coef.slice();
    const intercept = state.intercept.slice();
    const { epochs, t } = runSgd(m, {
      targets,
      coef,
      intercept,
      settings: { loss: p.loss === "log_loss" ? logLoss : hinge, alpha: p.alpha, penalty: p.penalty, fitIntercept: p.fitIntercept, learningRate: p.learningRate, eta0: p.eta0, powerT: p.powerT },
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

registerLoader("SGDClassifier", (m) => SGDClassifier.fromJSON(m));
