import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { Classifier, OnnxOutputs, Params, TrainingCallback } from "../estimator.js";
import { encodeClasses, type ClassLabel, type LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { accuracyScore } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import type { Tree } from "../tree/tree.js";
import { labelOfProbabilities, treeRegressor } from "../tree/onnx.js";
import { argmaxRows, labelsOf } from "../tree/argmax.js";
import { BinaryLogLoss, MultinomialLogLoss, sigmoid, softmaxInto } from "./boosting-loss.js";
import { boost, BOOSTING_DEFAULTS, rawScores, type Boosted, type BoostingParams } from "./boosting.js";

export interface HistGradientBoostingClassifierParams extends BoostingParams, Params {
  loss: "log_loss";
}

type State = FittedState & Boosted & { classes: ClassLabel[] };

/**
 * sklearn's HistGradientBoostingClassifier: binary log loss on one raw score (probability by sigmoid),
 * multinomial with one tree per class and iteration (softmax). `onEpoch` reports the loss after each iteration.
 */
export class HistGradientBoostingClassifier extends BaseEstimator<HistGradientBoostingClassifierParams, State> implements Classifier {
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<HistGradientBoostingClassifierParams> & { onEpoch?: TrainingCallback } = {}) {
    super("HistGradientBoostingClassifier", { loss: "log_loss", ...BOOSTING_DEFAULTS }, params);
    this.onEpoch = onEpoch;
  }

  static fromJSON(model: SerializedModel | string): HistGradientBoostingClassifier {
    return BaseEstimator.restore((p) => new HistGradientBoostingClassifier(p), model);
  }

  get classes(): ClassLabel[] {
    return this.fittedState().classes;
  }

  /** Iterations run (fewer than maxIter when early stopping ended training). */
  get nIter(): number {
    const s = this.fittedState();
    return s.trees.length / s.nOutputs;
  }

  /** Iteration-major: with k raw scores, tree t adds to score t % k. */
  get trees(): Tree[] {
    return this.fittedState().trees;
  }

  get trainLoss(): Float64Array {
    return this.fittedState().trainLoss;
  }

  get validationLoss(): Float64Array {
    return this.fittedState().validationLoss;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    const { classes, index } = encodeClasses(y, m.rows);
    if (this.params.loss !== "log_loss") this.invalidParameter("loss", `"log_loss"`);
    const loss = classes.length === 2 ? new BinaryLogLoss(index) : new MultinomialLogLoss(index, classes.length);
    this.state = { nFeatures: m.cols, classes, ...boost(m, loss, this.params, this.kind, this.onEpoch) };
    return this;
  }

  /** The raw scores: log-odds of the second class (binary), or one score per class before softmax. */
  decisionFunction(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    return { data: rawScores(state, m), rows: m.rows, cols: state.nOutputs };
  }

  predictProba(X: MatrixInput): Matrix {
    const raw = this.decisionFunction(X);
    const K = this.fittedState().classes.length;
    const out = new Float64Array(raw.rows * K);
    for (let r = 0; r < raw.rows; r++) {
      if (K === 2) {
        const p = sigmoid(raw.data[r]);
        out[2 * r] = 1 - p;
        out[2 * r + 1] = p;
      } else softmaxInto(raw.data, r * K, K, out, r * K);
    }
    return { data: out, rows: raw.rows, cols: K };
  }

  predict(X: MatrixInput): ClassLabel[] {
    return labelsOf(argmaxRows(this.predictProba(X)), this.fittedState().classes);
  }

  score(X: MatrixInput, y: LabelInput): number {
    return accuracyScore(y, this.predict(X));
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { trees, baseline, classes, nOutputs } = this.fittedState();
    const probabilities = `${prefix}_probabilities`;
    const targets = { nTargets: nOutputs, targetOf: (t: number) => t % nOutputs, baseValues: Array.from(baseline) };
    if (nOutputs > 1) treeRegressor(graph, input, probabilities, trees, { ...targets, postTransform: "SOFTMAX" });
    else {
      // A Sigmoid node, since onnxruntime's tree ensembles ignore post_transform LOGISTIC on a single target.
      const raw = `${prefix}_raw`;
      treeRegressor(graph, input, raw, trees, targets);
      graph.initializer(`${prefix}_one`, Float32Array.of(1), [1]);
      graph.node("Sigmoid", [raw], [`${prefix}_p1`]);
      graph.node("Sub", [`${prefix}_one`, `${prefix}_p1`], [`${prefix}_p0`]);
      graph.node("Concat", [`${prefix}_p0`, `${prefix}_p1`], [probabilities], { axis: attr.int(1) });
    }
    const label = `${prefix}_label`;
    const labelType = labelOfProbabilities(graph, probabilities, label, classes, prefix);
    return { kind: "classification", label, probabilities, classes: classes.length, labelType };
  }
}

/** The name the issue uses; the algorithm is sklearn's histogram variant. */
export const GradientBoostingClassifier = HistGradientBoostingClassifier;
export type GradientBoostingClassifier = HistGradientBoostingClassifier;

registerLoader("HistGradientBoostingClassifier", (m) => HistGradientBoostingClassifier.fromJSON(m));
registerEstimator("HistGradientBoostingClassifier", (p, onEpoch) => new HistGradientBoostingClassifier({ ...p, onEpoch }));
registerEstimator("GradientBoostingClassifier", (p, onEpoch) => new HistGradientBoostingClassifier({ ...p, onEpoch }));
