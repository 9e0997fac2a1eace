import { afterAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { DecisionTreeRegressor } from "../src/tree/index.js";
import { leafCount } from "../src/tree/tree.js";
import { binFeatures, TREE_BINS } from "../src/tree/binning.js";
import { GradientCriterion } from "../src/tree/gradient-criterion.js";
import { growTree } from "../src/tree/grow.js";
import { Random } from "../src/random.js";
import { describeBadInput } from "./helpers/trees-bad-input.js";
import { sinRegression, split } from "./helpers/trees-data.js";
import { expectRegressorOnnxMatches, expectRoundTrip } from "./helpers/trees-onnx.js";

describe("DecisionTreeRegressor", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("fits y = sin(x0)·x1 + noise: R² ≥ 0.85 held out with depth 8, and nearly memorises the training set unlimited", () => {
    const { train, test } = split(sinRegression(3000, 0.1, 1), 0.3, 2);
    const shallow = new DecisionTreeRegressor({ maxDepth: 8, randomState: 0 }).fit(train.X, train.y);
    expect(shallow.score(test.X, test.y)).toBeGreaterThan(0.85);
    const full = new DecisionTreeRegressor({ randomState: 0 }).fit(train.X, train.y);
    // 2,100 distinct values per feature fall into 256 quantile bins, so rows sharing both bins share a leaf.
    expect(full.score(train.X, train.y)).toBeGreaterThan(0.999);
    const few = split(sinRegression(200, 0.1, 1), 0, 2).train;
    const exact = new DecisionTreeRegressor({ randomState: 0 }).fit(few.X, few.y);
    expect(leafCount(exact.tree)).toBe(200);
    expect(exact.score(few.X, few.y)).toBe(1);
  });

  it("splits halfway between the node's own nearest values, as scikit-learn, not at the edge to the training set's next value", () => {
    // The root splits on x0; its right child splits x1 ∈ {1, 2, 9} between 2 and 9, while 5 (in the other child) lies between them.
    const X = [[0, 5], [0, 0], [1, 1], [1, 2], [1, 9]];
    const tree = new DecisionTreeRegressor({ randomState: 0 }).fit(X, [10, 10, 0, 0, 1]);
    const inner = tree.tree.feature.findIndex((f, node) => f === 1 && node > 0);
    expect(tree.tree.threshold[inner]).toBe(5.5);
    const [below, above] = tree.predict([[1, 4], [1, 6]]);
    expect(below).toBeCloseTo(0, 12);
    expect(above).toBeCloseTo(1, 12);
  });

  it("predicts the mean of each leaf's rows, and a constant target with a single leaf", () => {
    const X = [[0], [1], [2], [3]];
    const tree = new DecisionTreeRegressor({ maxDepth: 1 }).fit(X, [1, 1, 5, 7]);
    expect(Array.from(tree.predict([[0.4], [2.6]]))).toEqual([1, 6]);
    const flat = new DecisionTreeRegressor().fit(X, [2, 2, 2, 2]);
    expect(leafCount(flat.tree)).toBe(1);
    expect(Array.from(flat.predict([[9]]))).toEqual([2]);
  });

  it("keeps large offsets: y = 1e6 + small steps still splits", () => {
    const X = [[0], [1], [2], [3]];
    const tree = new DecisionTreeRegressor().fit(X, [1e6, 1e6 + 0.001, 1e6 + 0.002, 1e6 + 0.003]);
    expect(leafCount(tree.tree)).toBe(4);
  });

  it("exports to ONNX that matches predict: 1 row and 10,000 rows", async () => {
    const data = sinRegression(5000, 0.1, 3, 3);
    const tree = new DecisionTreeRegressor({ minSamplesLeaf: 3, randomState: 0 }).fit(data.X, data.y);
    const big = sinRegression(10_000, 0.1, 4, 3).X;
    await expectRegressorOnnxMatches(pool, tree, big);
    await expectRegressorOnnxMatches(pool, tree, { data: big.data.slice(0, 5), rows: 1, cols: 5 });
  });

  it("round-trips through JSON to the same predictions and ONNX bytes", () => {
    const { X, y } = sinRegression(500, 0.1, 5);
    expectRoundTrip(new DecisionTreeRegressor({ randomState: 3 }).fit(X, y), X);
  });

  it("is deterministic for a randomState", () => {
    const { X, y } = sinRegression(500, 0.3, 6, 4);
    const a = new DecisionTreeRegressor({ maxFeatures: 2, randomState: 7 }).fit(X, y);
    const b = new DecisionTreeRegressor({ maxFeatures: 2, randomState: 7 }).fit(X, y);
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
  });
});

describeBadInput("DecisionTreeRegressor", () => new DecisionTreeRegressor({ randomState: 0 }), "values");

describe("squared-error trees without hessian sums", () => {
  it("grow the same tree as with a hessian of 1 summed per row", () => {
    const { X, y } = sinRegression(2_000, 0.2, 4);
    const binned = binFeatures(X, TREE_BINS, 0);
    const rows = Int32Array.from({ length: X.rows }, (_, i) => i);
    const g = Float64Array.from(y, (v) => -v);
    const h = new Float64Array(X.rows).fill(1);
    const grow = (unitHessian: boolean) =>
      growTree(binned, rows, new GradientCriterion(g, h, { l2: 0, unitHessian }), {
        maxDepth: 8, minSamplesSplit: 2, minSamplesLeaf: 5, maxFeatures: X.cols, maxLeafNodes: 31, minGain: 0, random: new Random(1),
      });
    const unit = grow(true);
    expect(leafCount(unit)).toBe(31);
    expect(unit).toEqual(grow(false));
  });
});
