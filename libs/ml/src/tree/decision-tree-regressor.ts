import type { OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { OnnxOutputs, Params, Regressor } from "../estimator.js";
import { toTargets, type LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { r2Score } from "../metrics.js";
import { Random, indices } from "../random.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { binFeatures, TREE_BINS } from "./binning.js";
import { GradientCriterion } from "./gradient-criterion.js";
import { growTree } from "./grow.js";
import { treeRegressor } from "./onnx.js";
import { growOptions, seedOf, type TreeLimits } from "./params.js";
import { addTreeOutput, type Tree } from "./tree.js";

export interface DecisionTreeRegressorParams extends TreeLimits, Params {
  criterion: "squared_error";
  randomState: number | null;
}

interface State extends FittedState {
  tree: Tree;
}

/** sklearn's DecisionTreeRegressor with squared error; splits are searched on 256 quantile bins per feature. */
export class DecisionTreeRegressor extends BaseEstimator<DecisionTreeRegressorParams, State> implements Regressor {
  constructor(params: Partial<DecisionTreeRegressorParams> = {}) {
    super(
      "DecisionTreeRegressor",
      { criterion: "squared_error", maxDepth: null, minSamplesSplit: 2, minSamplesLeaf: 1, maxFeatures: null, maxLeafNodes: null, minImpurityDecrease: 0, randomState: null },
      params,
    );
  }

  static fromJSON(model: SerializedModel | string): DecisionTreeRegressor {
    return BaseEstimator.restore((p) => new DecisionTreeRegressor(p), model);
  }

  get tree(): Tree {
    return this.fittedState().tree;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X);
    const target = toTargets(y, m.rows);
    const p = this.params;
    if (p.criterion !== "squared_error") this.invalidParameter("criterion", `"squared_error"`);
    const seed = seedOf(p.randomState);
    const options = growOptions(p, m.rows, m.cols, new Random(seed), this.kind);
    const rows = indices(m.rows);
    const tree = growTree(binFeatures(m, TREE_BINS, seed), rows, GradientCriterion.squaredError(target, rows, null), options);
    this.state = { nFeatures: m.cols, tree };
    return this;
  }

  predict(X: MatrixInput): Float64Array {
    const { m, state } = this.checkedInput(X);
    const out = new Float64Array(m.rows);
    addTreeOutput(state.tree, m, out);
    return out;
  }

  score(X: MatrixInput, y: LabelInput): number {
    const predicted = this.predict(X);
    return r2Score(y, predicted);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const variable = `${prefix}_variable`;
    treeRegressor(graph, input, variable, [this.fittedState().tree], { nTargets: 1 });
    return { kind: "regression", variable };
  }
}

registerLoader("DecisionTreeRegressor", (m) => DecisionTreeRegressor.fromJSON(m));
registerEstimator("DecisionTreeRegressor", (p) => new DecisionTreeRegressor(p));
