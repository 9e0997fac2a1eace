import { afterAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { DecisionTreeClassifier } from "../src/tree/index.js";
import { depthOf, leafCount, leafOf } from "../src/tree/tree.js";
import { describeBadInput } from "./helpers/trees-bad-input.js";
import { blobs, crossValidate, iris, moons, split, stringLabels } from "./helpers/trees-data.js";
import { expectClassifierOnnxMatches, expectRoundTrip } from "./helpers/trees-onnx.js";

describe("DecisionTreeClassifier", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("learns iris: 100% on its training set, ≥ 92% in 5-fold cross-validation (sklearn: ~95%)", () => {
    const data = iris();
    const tree = new DecisionTreeClassifier({ randomState: 0 }).fit(data.X, data.y);
    expect(tree.score(data.X, data.y)).toBe(1);
    expect(tree.classes).toEqual(["setosa", "versicolor", "virginica"]);
    const cv = crossValidate(data, 5, 1, (train, test) => new DecisionTreeClassifier({ randomState: 0 }).fit(train.X, train.y).score(test.X, test.y));
    expect(cv).toBeGreaterThanOrEqual(0.92);
  });

  it("separates moons, and maxDepth / minSamplesLeaf / maxLeafNodes limit the tree", () => {
    const { train, test } = split(moons(1000, 0.2, 2), 0.3, 3);
    const full = new DecisionTreeClassifier({ randomState: 0 }).fit(train.X, train.y);
    expect(full.score(test.X, test.y)).toBeGreaterThan(0.9);
    expect(depthOf(new DecisionTreeClassifier({ maxDepth: 3, randomState: 0 }).fit(train.X, train.y).tree)).toBe(3);
    expect(leafCount(new DecisionTreeClassifier({ maxLeafNodes: 7, randomState: 0 }).fit(train.X, train.y).tree)).toBe(7);
    const leafy = new DecisionTreeClassifier({ minSamplesLeaf: 50, randomState: 0 }).fit(train.X, train.y);
    const rowsPerLeaf = new Map<number, number>();
    for (let r = 0; r < train.X.rows; r++) {
      const leaf = leafOf(leafy.tree, train.X.data, r * 2);
      rowsPerLeaf.set(leaf, (rowsPerLeaf.get(leaf) ?? 0) + 1);
    }
    expect(Math.min(...rowsPerLeaf.values())).toBeGreaterThanOrEqual(50);
    expect(rowsPerLeaf.size).toBe(leafCount(leafy.tree));
  });

  it("splits with entropy too", () => {
    const { train, test } = split(iris(), 0.3, 4);
    const tree = new DecisionTreeClassifier({ criterion: "entropy", randomState: 0 }).fit(train.X, train.y);
    expect(tree.score(test.X, test.y)).toBeGreaterThanOrEqual(0.9);
  });

  it("exports to ONNX that matches predict and predictProba exactly: 2 classes, 12 string classes, 1 row and 10,000 rows", async () => {
    const two = moons(2000, 0.3, 5);
    const binary = new DecisionTreeClassifier({ randomState: 1 }).fit(two.X, two.y);
    const many = blobs(3000, 12, 5, 6);
    const named = new DecisionTreeClassifier({ maxDepth: 8, randomState: 1 }).fit(many.X, stringLabels(many.y));
    const wide = blobs(10_000, 12, 5, 7);
    for (const model of [binary, named]) {
      const big = model === binary ? moons(10_000, 0.3, 8).X : wide.X;
      const { agreed } = await expectClassifierOnnxMatches(pool, model, big);
      expect(agreed).toBe(10_000);
      const one = { data: big.data.slice(0, big.cols), rows: 1, cols: big.cols };
      expect((await expectClassifierOnnxMatches(pool, model, one)).agreed).toBe(1);
    }
  });

  it("round-trips through JSON to the same predictions and ONNX bytes", () => {
    const { X, y } = iris();
    expectRoundTrip(new DecisionTreeClassifier({ randomState: 3 }).fit(X, y), X);
  });

  it("is deterministic for a randomState", () => {
    const { X, y } = moons(500, 0.3, 9);
    const a = new DecisionTreeClassifier({ maxFeatures: "sqrt", randomState: 7 }).fit(X, y);
    const b = new DecisionTreeClassifier({ maxFeatures: "sqrt", randomState: 7 }).fit(X, y);
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
  });
});

describeBadInput("DecisionTreeClassifier", () => new DecisionTreeClassifier({ randomState: 0 }), "classes");
