import type { OnnxGraphBuilder } from "@kiln/onnx";
import { registerEstimator } from "../catalog.js";
import type { OnnxOutputs, Params, Regressor } from "../estimator.js";
import { toTargets, type LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { r2Score } from "../metrics.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { GradientCriterion } from "../tree/gradient-criterion.js";
import { treeRegressor } from "../tree/onnx.js";
import { addTreeOutput, type Tree } from "../tree/tree.js";
import { growForest, type ForestParams } from "./forest.js";

export interface RandomForestRegressorParams extends ForestParams, Params {
  criterion: "squared_error";
}

interface State extends FittedState {
  trees: Tree[];
}

/** sklearn's RandomForestRegressor: bootstrap samples, every feature per split (maxFeatures 1.0), predictions averaged. */
export class RandomForestRegressor extends BaseEstimator<RandomForestRegressorParams, State> implements Regressor {
  constructor(params: Partial<RandomForestRegressorParams> = {}) {
    super(
      "RandomForestRegressor",
      {
        nEstimators: 100,
        criterion: "squared_error",
        maxDepth: null,
        minSamplesSplit: 2,
        minSamplesLeaf: 1,
        maxFeatures: 1.0,
        maxLeafNodes: null,
        minImpurityDecrease: 0,
        bootstrap: true,
        maxSamples: null,
        randomState: null,
      },
      params,
    );
  }

  static fromJSON(model: SerializedModel | string): RandomForestRegressor {
    return BaseEstimator.restore((p) => new RandomForestRegressor(p), model);
  }

  get trees(): Tree[] {
    return this.fittedState().trees;
  }

  fit(X: MatrixInput, y: LabelInput): this {
    const m = toMatrix(X);
    const target = toTargets(y, m.rows);
    if (this.params.criterion !== "squared_error") this.invalidParameter("criterion", `"squared_error"`);
    const trees = growForest(m, this.params, this.kind, (weight, rows) => GradientCriterion.squaredError(target, rows, weight));
    this.state = { nFeatures: m.cols, trees };
    return this;
  }

  predict(X: MatrixInput): Float64Array {
    const { m, state } = this.checkedInput(X);
    const out = new Float64Array(m.rows);
    for (const tree of state.trees) addTreeOutput(tree, m, out, 1 / state.trees.length);
    return out;
  }

  score(X: MatrixInput, y: LabelInput): number {
    const predicted = this.predict(X);
    return r2Score(y, predicted);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const variable = `${prefix}_variable`;
    treeRegressor(graph, input, variable, this.fittedState().trees, { nTargets: 1, aggregate: "AVERAGE" });
    return { kind: "regression", variable };
  }
}

registerLoader("RandomForestRegressor", (m) => RandomForestRegressor.fromJSON(m));
registerEstimator("RandomForestRegressor", (p) => new RandomForestRegressor(p));
