import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { Classifier, OnnxOutputs, Params } from "../estimator.js";
import { encodeClasses, type ClassLabel, type LabelInput } from "../labels.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { accuracyScore } from "../metrics.js";
import { Random, indices } from "../random.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { registerEstimator } from "../catalog.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { binFeatures, TREE_BINS } from "./binning.js";
import { ClassificationCriterion, type ClassificationImpurity } from "./classification-criterion.js";
import { growTree } from "./grow.js";
import { labelOfProbabilities, treeClassifierScores } from "./onnx.js";
import { growOptions, seedOf, type TreeLimits } from "./params.js";
import { argmaxRows, labelsOf } from "./argmax.js";
import { addTreeOutput, type Tree } from "./tree.js";

export interface DecisionTreeClassifierParams extends TreeLimits, Params {
  criterion: ClassificationImpurity;
  randomState: number | null;
}

interface State extends FittedState {
  classes: ClassLabel[];
  tree: Tree;
}

/** sklearn's DecisionTreeClassifier (splitter="best"); splits are searched on 256 quantile bins per feature. */
export class DecisionTreeClassifier extends BaseEstimator<DecisionTreeClassifierParams, State> implements Classifier {
  constructor(params: Partial<DecisionTreeClassifierParams> = {}) {
    super(
      "DecisionTreeClassifier",
      { criterion: "gini", maxDepth: null, minSamplesSplit: 2, minSamplesLeaf: 1, maxFeatures: null, maxLeafNodes: null, minImpurityDecrease: 0, randomState: null },
      params,
    );
  }

  static fromJSON(model: SerializedModel | string): DecisionTreeClassifier {
    return BaseEstimator.restore((p) => new DecisionTreeClassifier(p), model);
  }

  get classes(): ClassLabel[] {
    return this.fittedState().classes;
  }

  get tree(): Tree {
    return this.fittedState().tree;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X);
    const { classes, index } = encodeClasses(y, m.rows);
    const p = this.params;
    if (!["gini", "entropy", "log_loss"].includes(p.criterion)) this.invalidParameter("criterion", `"gini", "entropy" or "log_loss"`);
    const seed = seedOf(p.randomState);
    const options = growOptions(p, m.rows, m.cols, new Random(seed), this.kind);
    const criterion = new ClassificationCriterion(p.criterion, index, classes.length, null);
    const rows = indices(m.rows);
    const tree = growTree(binFeatures(m, TREE_BINS, seed), rows, criterion, options);
    this.state = { nFeatures: m.cols, classes, tree };
    return this;
  }

  predictProba(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const out = new Float64Array(m.rows * state.classes.length);
    addTreeOutput(state.tree, m, out);
    return { data: out, rows: m.rows, cols: state.classes.length };
  }

  predict(X: MatrixInput): ClassLabel[] {
    return labelsOf(argmaxRows(this.predictProba(X)), this.fittedState().classes);
  }

  score(X: MatrixInput, y: LabelInput): number {
    return accuracyScore(y, this.predict(X));
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { classes, tree } = this.fittedState();
    const probabilities = `${prefix}_probabilities`;
    treeClassifierScores(graph, input, probabilities, [tree], classes.length, 1);
    const label = `${prefix}_label`;
    const labelType = labelOfProbabilities(graph, probabilities, label, classes, prefix);
    return { kind: "classification", label, probabilities, classes: classes.length, labelType };
  }
}

registerLoader("DecisionTreeClassifier", (m) => DecisionTreeClassifier.fromJSON(m));
registerEstimator("DecisionTreeClassifier", (p) => new DecisionTreeClassifier(p));
