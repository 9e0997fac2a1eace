import type { OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { Classifier, OnnxOutputs, Params } from "../estimator.js";
import { encodeClasses, type ClassLabel, type LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { accuracyScore } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { ClassificationCriterion, type ClassificationImpurity } from "../tree/classification-criterion.js";
import { labelOfProbabilities, treeClassifierScores } from "../tree/onnx.js";
import { argmaxRows, labelsOf } from "../tree/argmax.js";
import { addTreeOutput, type Tree } from "../tree/tree.js";
import { growForest, type ForestParams } from "./forest.js";

export interface RandomForestClassifierParams extends ForestParams, Params {
  criterion: ClassificationImpurity;
}

interface State extends FittedState {
  classes: ClassLabel[];
  trees: Tree[];
}

/** sklearn's RandomForestClassifier: bootstrap samples, √features per split, probabilities averaged over the trees. */
export class RandomForestClassifier extends BaseEstimator<RandomForestClassifierParams, State> implements Classifier {
  constructor(params: Partial<RandomForestClassifierParams> = {}) {
    super(
      "RandomForestClassifier",
      {
        nEstimators: 100,
        criterion: "gini",
        maxDepth: null,
        minSamplesSplit: 2,
        minSamplesLeaf: 1,
        maxFeatures: "sqrt",
        maxLeafNodes: null,
        minImpurityDecrease: 0,
        bootstrap: true,
        maxSamples: null,
        randomState: null,
      },
      params,
    );
  }

  static fromJSON(model: SerializedModel | string): RandomForestClassifier {
    return BaseEstimator.restore((p) => new RandomForestClassifier(p), model);
  }

  get classes(): ClassLabel[] {
    return this.fittedState().classes;
  }

  get trees(): Tree[] {
    return this.fittedState().trees;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X);
    const { classes, index } = encodeClasses(y, m.rows);
    const p = this.params;
    if (!["gini", "entropy", "log_loss"].includes(p.criterion)) this.invalidParameter("criterion", `"gini", "entropy" or "log_loss"`);
    const trees = growForest(m, p, this.kind, (weight) => new ClassificationCriterion(p.criterion, index, classes.length, weight));
    this.state = { nFeatures: m.cols, classes, trees };
    return this;
  }

  predictProba(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const out = new Float64Array(m.rows * state.classes.length);
    for (const tree of state.trees) addTreeOutput(tree, m, out, 1 / state.trees.length);
    return { data: out, rows: m.rows, cols: state.classes.length };
  }

  predict(X: MatrixInput): ClassLabel[] {
    return labelsOf(argmaxRows(this.predictProba(X)), this.fittedState().classes);
  }

  score(X: MatrixInput, y: LabelInput): number {
    return accuracyScore(y, this.predict(X));
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { classes, trees } = this.fittedState();
    const probabilities = `${prefix}_probabilities`;
    treeClassifierScores(graph, input, probabilities, trees, classes.length, 1 / trees.length);
    const label = `${prefix}_label`;
    const labelType = labelOfProbabilities(graph, probabilities, label, classes, prefix);
    return { kind: "classification", label, probabilities, classes: classes.length, labelType };
  }
}

registerLoader("RandomForestClassifier", (m) => RandomForestClassifier.fromJSON(m));
registerEstimator("RandomForestClassifier", (p) => new RandomForestClassifier(p));
