import type { OnnxGraphBuilder } from "@kiln/onnx";
import { MLError } from "../errors.js";
import type { Classifier, OnnxOutputs, Params } from "../estimator.js";
import type { ClassLabel, LabelInput } from "../labels.js";
import type { Matrix, MatrixInput } from "../matrix.js";
import { accuracyScore } from "../metrics.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { linearScores } from "./linear-scores.js";
import { classIndexOnnx, classLabelsOnnx } from "./onnx-class-labels.js";
import { linearScoresOnnx, toFloat32Onnx } from "./onnx-linear.js";
import { probabilitiesFromScores, probabilitiesOnnx, type ProbabilityLink } from "./probabilities.js";

export interface LinearClassifierState extends FittedState {
  classes: ClassLabel[];
  /** outputs × nFeatures, row-major; one output for two classes (the greater class's score), as sklearn's coef_. */
  coef: Float64Array;
  intercept: Float64Array;
}

/** Decision scores X·Wᵀ + b, labels, probabilities, accuracy and ONNX for LogisticRegression and SGDClassifier. */
export abstract class LinearClassifier<P extends Params, S extends LinearClassifierState = LinearClassifierState>
  extends BaseEstimator<P, S>
  implements Classifier
{
  abstract fit(X: MatrixInput, y: LabelInput): this;

  /** How scores become probabilities with the current parameters. */
  protected abstract link(): ProbabilityLink;

  get classes(): ClassLabel[] {
    return [...(this.state?.classes ?? [])];
  }

  /** sklearn's coef_: outputs × nFeatures (a copy). */
  get coef(): Matrix {
    const s = this.fittedState();
    return { data: s.coef.slice(), rows: s.intercept.length, cols: s.nFeatures };
  }

  /** sklearn's intercept_ (a copy). */
  get intercept(): Float64Array {
    return this.fittedState().intercept.slice();
  }

  /** n × outputs scores; one column for two classes, positive meaning the greater class. */
  decisionFunction(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    return { data: linearScores(m, state.coef, state.intercept), rows: m.rows, cols: state.intercept.length };
  }

  predict(X: MatrixInput): ClassLabel[] {
    const classes = this.fittedState().classes;
    const d = this.decisionFunction(X);
    const labels = new Array<ClassLabel>(d.rows);
    for (let r = 0; r < d.rows; r++) {
      if (d.cols === 1) {
        labels[r] = classes[d.data[r] > 0 ? 1 : 0];
        continue;
      }
      let best = 0;
      for (let c = 1; c < d.cols; c++) if (d.data[r * d.cols + c] > d.data[r * d.cols + best]) best = c;
      labels[r] = classes[best];
    }
    return labels;
  }

  predictProba(X: MatrixInput): Matrix {
    const link = this.link();
    if (link === "none") throw new MLError(`${this.kind} has no probabilities with this loss; use decisionFunction, or loss "log_loss"`, "NO_PROBABILITIES");
    const d = this.decisionFunction(X);
    return { data: probabilitiesFromScores(d.data, d.rows, d.cols, link), rows: d.rows, cols: this.fittedState().classes.length };
  }

  score(X: MatrixInput, y: LabelInput): number {
    return accuracyScore(y, this.predict(X));
  }

  /** For loss "hinge", "probabilities" holds the decision scores ([−d, d] for two classes), as skl2onnx exports them. */
  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const state = this.fittedState();
    const outputs = state.intercept.length;
    const scores = linearScoresOnnx(graph, input, prefix, state.coef, state.intercept);
    const probabilities = toFloat32Onnx(graph, probabilitiesOnnx(graph, scores, outputs, this.link(), prefix), `${prefix}_probabilities_f32`);
    const index = classIndexOnnx(graph, scores, outputs, prefix);
    const { label, labelType } = classLabelsOnnx(graph, index, state.classes, prefix);
    return { kind: "classification", label, probabilities, classes: state.classes.length, labelType };
  }
}

export function sameClasses(a: readonly ClassLabel[], b: readonly ClassLabel[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
