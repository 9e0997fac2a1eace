import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { Classifier, Incremental, OnnxOutputs, Params, TrainingCallback } from "../estimator.js";
import { InvalidInputError } from "../errors.js";
import { encodeClasses, indexOfClasses, type ClassLabel, type LabelInput } from "../labels.js";
import { BaseEstimator } from "../base-estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { accuracyScore } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { labelOfProbabilities } from "../tree/onnx.js";
import { argmaxRows, labelsOf } from "../tree/argmax.js";
import { MLPBase, pick } from "./mlp-base.js";
import type { MLPParams, NetworkState } from "./training.js";

export type MLPClassifierParams = MLPParams & Params;

interface State extends NetworkState {
  classes: ClassLabel[];
}

/**
 * sklearn's MLPClassifier with Adam: one logistic output for two classes, softmax for more,
 * log loss plus L2. onEpoch reports each epoch's loss; partialFit trains one epoch per call.
 */
export class MLPClassifier extends MLPBase<MLPClassifierParams, State> implements Classifier, Incremental {
  constructor({ onEpoch, ...params }: Partial<MLPClassifierParams> & { onEpoch?: TrainingCallback } = {}) {
    super("MLPClassifier", {}, params, onEpoch);
  }

  static fromJSON(model: SerializedModel | string): MLPClassifier {
    return BaseEstimator.restore((p) => new MLPClassifier(p), model);
  }

  get classes(): ClassLabel[] {
    return this.fittedState().classes;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    const { classes, index } = encodeClasses(y, m.rows);
    this.train(m, targetsOf(index, classes.length), classes.length === 2 ? "logistic" : "softmax", { classes }, (s, rows) => {
      const held = pick(m, rows);
      return accuracyScore(Array.from(rows, (r) => classes[index[r]]), this.predict(held));
    });
    return this;
  }

  /** One epoch over the batch; the first call needs every class in `options.classes`, as sklearn's partial_fit. */
  partialFit(X: MatrixInput, y?: LabelInput, options: { classes?: ClassLabel[] } = {}): this {
    const m = toMatrix(X);
    if (!y) throw new InvalidInputError(`${this.kind}.partialFit needs y`, "MISSING_TARGET");
    if (!this.state && !options.classes) throw new InvalidInputError(`the first ${this.kind}.partialFit call needs options.classes: every class y will ever have`, "CLASSES_REQUIRED");
    const classes = this.state?.classes ?? encodeClasses(options.classes!, options.classes!.length).classes;
    if (this.state) checkWidth(m, this.state.nFeatures, this.kind);
    const index = indexOfClasses(y, m.rows, classes);
    this.trainIncrementally(m, targetsOf(index, classes.length), classes.length === 2 ? "logistic" : "softmax", () => ({ classes }));
    return this;
  }

  predictProba(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const out = this.outputs(m);
    const K = state.classes.length;
    if (K > 2) return { data: out, rows: m.rows, cols: K };
    const both = new Float64Array(m.rows * 2);
    for (let r = 0; r < m.rows; r++) {
      both[2 * r] = 1 - out[r];
      both[2 * r + 1] = out[r];
    }
    return { data: both, rows: m.rows, cols: 2 };
  }

  predict(X: MatrixInput): ClassLabel[] {
    return labelsOf(argmaxRows(this.predictProba(X)), this.fittedState().classes);
  }

  score(X: MatrixInput, y: LabelInput): number {
    return accuracyScore(y, this.predict(X));
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { classes } = this.fittedState();
    const out = this.exportNetwork(graph, input, prefix);
    let probabilities = out;
    if (classes.length === 2) {
      probabilities = `${prefix}_probabilities`;
      graph.initializer(`${prefix}_one`, Float32Array.of(1), [1]);
      graph.node("Sub", [`${prefix}_one`, out], [`${prefix}_p0`]);
      graph.node("Concat", [`${prefix}_p0`, out], [probabilities], { axis: attr.int(1) });
    }
    const label = `${prefix}_label`;
    const labelType = labelOfProbabilities(graph, probabilities, label, classes, prefix);
    return { kind: "classification", label, probabilities, classes: classes.length, labelType };
  }
}

/** The class of each row as the network's targets: 0/1 for two classes, one-hot rows for more. */
function targetsOf(index: Int32Array, K: number): Float64Array {
  if (K === 2) return Float64Array.from(index);
  const T = new Float64Array(index.length * K);
  index.forEach((k, r) => (T[r * K + k] = 1));
  return T;
}

registerLoader("MLPClassifier", (m) => MLPClassifier.fromJSON(m));
registerEstimator("MLPClassifier", (p, onEpoch) => new MLPClassifier({ ...p, onEpoch }));
