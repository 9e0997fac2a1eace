import { afterAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { GradientBoostingClassifier, HistGradientBoostingClassifier, HistGradientBoostingRegressor } from "../src/ensemble/index.js";
import { DecisionTreeClassifier, DecisionTreeRegressor } from "../src/tree/index.js";
import { leafCount } from "../src/tree/tree.js";
import { describeBadInput } from "./helpers/trees-bad-input.js";
import { blobs, crossValidate, iris, moons, sinRegression, split, stringLabels, withLabelNoise } from "./helpers/trees-data.js";
import { expectClassifierOnnxMatches, expectRegressorOnnxMatches, expectRoundTrip } from "./helpers/trees-onnx.js";

describe("HistGradientBoostingClassifier", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("beats a single tree on noisy moons (10% of labels flipped)", () => {
    const data = moons(2000, 0.3, 1);
    const { train } = split({ X: data.X, y: withLabelNoise(data.y, 0.1, 2, 2) }, 0.3, 3);
    const clean = split(data, 0.3, 3).test;
    const tree = new DecisionTreeClassifier({ randomState: 0 }).fit(train.X, train.y).score(clean.X, clean.y);
    const boosted = new HistGradientBoostingClassifier({ randomState: 0 }).fit(train.X, train.y).score(clean.X, clean.y);
    expect(boosted).toBeGreaterThan(0.86); // measured: tree 0.76
    expect(boosted).toBeGreaterThan(tree + 0.05);
  });

  it("classifies iris at ≥ 93% in 5-fold cross-validation (sklearn: ~94%)", () => {
    const cv = crossValidate(iris(), 5, 1, (train, test) => new HistGradientBoostingClassifier({ randomState: 0 }).fit(train.X, train.y).score(test.X, test.y));
    expect(cv).toBeGreaterThanOrEqual(0.93);
  });

  it("reports the loss of every iteration through onEpoch, falling", () => {
    const { X, y } = blobs(600, 4, 3, 2, 3);
    const seen: { epoch: number; loss?: number }[] = [];
    const model = new HistGradientBoostingClassifier({ maxIter: 30, randomState: 0, onEpoch: (e) => seen.push(e) }).fit(X, y);
    expect(seen.map((e) => e.epoch)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(seen.map((e) => e.loss)).toEqual(Array.from(model.trainLoss.subarray(1)));
    for (let i = 1; i < seen.length; i++) expect(seen[i].loss!).toBeLessThan(seen[i - 1].loss!);
    expect(model.trees).toHaveLength(30 * 4); // one tree per class and iteration
    for (const tree of model.trees) expect(leafCount(tree)).toBeLessThanOrEqual(31);
  });

  it("stops early when the held-out loss stops improving", () => {
    const data = moons(3000, 0.4, 4);
    const y = withLabelNoise(data.y, 0.2, 2, 5);
    const model = new HistGradientBoostingClassifier({ maxIter: 1000, earlyStopping: true, randomState: 0 }).fit(data.X, y);
    expect(model.nIter).toBeLessThan(300);
    expect(model.validationLoss).toHaveLength(model.nIter + 1);
    const best = Math.min(...model.validationLoss);
    // none of the last 10 iterations improved on the one before them
    expect(Math.min(...model.validationLoss.subarray(-10))).toBeGreaterThanOrEqual(model.validationLoss[model.nIter - 10] - 1e-7);
    expect(best).toBeLessThan(model.validationLoss[0]);
  });

  it("exports to ONNX (sigmoid for 2 classes, softmax for more) matching predictProba: 1 row and 10,000 rows", async () => {
    const two = moons(3000, 0.3, 5);
    const binary = new HistGradientBoostingClassifier({ maxIter: 50, randomState: 1 }).fit(two.X, two.y);
    const many = blobs(3000, 8, 5, 6);
    const named = new GradientBoostingClassifier({ maxIter: 20, randomState: 1 }).fit(many.X, stringLabels(many.y));
    for (const [model, big] of [
      [binary, moons(10_000, 0.3, 8).X],
      [named, blobs(10_000, 8, 5, 7).X],
    ] as const) {
      const { agreed } = await expectClassifierOnnxMatches(pool, model, big);
      expect(agreed).toBeGreaterThan(9990);
      await expectClassifierOnnxMatches(pool, model, { data: big.data.slice(0, big.cols), rows: 1, cols: big.cols });
    }
  });

  it("round-trips through JSON to the same predictions and ONNX bytes, and is deterministic", () => {
    const { X, y } = iris();
    const model = new HistGradientBoostingClassifier({ maxIter: 20, maxFeatures: 0.5, randomState: 3 }).fit(X, y);
    expectRoundTrip(model, X);
    const again = new HistGradientBoostingClassifier({ maxIter: 20, maxFeatures: 0.5, randomState: 3 }).fit(X, y);
    expect(JSON.stringify(again.toJSON())).toBe(JSON.stringify(model.toJSON()));
  });
});

describe("HistGradientBoostingRegressor", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("beats a single tree on y = sin(x0)·x1 + strong noise", () => {
    const { train, test } = split(sinRegression(3000, 0.5, 1), 0.3, 2);
    const tree = new DecisionTreeRegressor({ randomState: 0 }).fit(train.X, train.y).score(test.X, test.y);
    const boosted = new HistGradientBoostingRegressor({ randomState: 0 }).fit(train.X, train.y).score(test.X, test.y);
    expect(boosted).toBeGreaterThan(0.8); // measured: tree 0.73; the noise caps R² near 0.86
    expect(boosted).toBeGreaterThan(tree + 0.05);
  });

  it("fits a smooth target closely and reports a falling loss", () => {
    const { train, test } = split(sinRegression(4000, 0.05, 3), 0.25, 4);
    const losses: number[] = [];
    const model = new HistGradientBoostingRegressor({ maxIter: 200, randomState: 0, onEpoch: (e) => losses.push(e.loss!) }).fit(train.X, train.y);
    expect(model.score(test.X, test.y)).toBeGreaterThan(0.97);
    expect(losses).toHaveLength(200);
    for (let i = 1; i < losses.length; i++) expect(losses[i]).toBeLessThanOrEqual(losses[i - 1]);
  });

  it("exports to ONNX matching predict: 1 row and 10,000 rows", async () => {
    const data = sinRegression(3000, 0.3, 5, 2);
    const model = new HistGradientBoostingRegressor({ maxIter: 60, randomState: 0 }).fit(data.X, data.y);
    const big = sinRegression(10_000, 0.3, 6, 2).X;
    await expectRegressorOnnxMatches(pool, model, big);
    await expectRegressorOnnxMatches(pool, model, { data: big.data.slice(0, 4), rows: 1, cols: 4 });
  });

  it("round-trips through JSON, and is deterministic for a randomState", () => {
    const { X, y } = sinRegression(400, 0.1, 7);
    const a = new HistGradientBoostingRegressor({ maxIter: 15, randomState: 3 }).fit(X, y);
    expectRoundTrip(a, X);
    expect(JSON.stringify(new HistGradientBoostingRegressor({ maxIter: 15, randomState: 3 }).fit(X, y).toJSON())).toBe(JSON.stringify(a.toJSON()));
  });
});

describeBadInput("HistGradientBoostingClassifier", () => new HistGradientBoostingClassifier({ maxIter: 3, minSamplesLeaf: 1 }), "classes");
describeBadInput("HistGradientBoostingRegressor", () => new HistGradientBoostingRegressor({ maxIter: 3, minSamplesLeaf: 1 }), "values");
