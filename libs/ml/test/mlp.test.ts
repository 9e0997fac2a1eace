import { afterAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { MLPClassifier, MLPRegressor } from "../src/neural/index.js";
import { loadModel } from "../src/serialize.js";
import { describeBadInput } from "./helpers/trees-bad-input.js";
import { blobs, crossValidate, iris, moons, sinRegression, split, stringLabels } from "./helpers/trees-data.js";
import { expectClassifierOnnxMatches, expectRegressorOnnxMatches, expectRoundTrip } from "./helpers/trees-onnx.js";

describe("MLPClassifier", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("separates moons (≥ 95% held out) and reports a falling loss every epoch", () => {
    const { train, test } = split(moons(1500, 0.15, 1), 0.3, 2);
    const losses: number[] = [];
    const model = new MLPClassifier({ hiddenLayerSizes: [32, 32], learningRateInit: 0.01, maxIter: 150, randomState: 0, onEpoch: (e) => losses.push(e.loss!) }).fit(train.X, train.y);
    expect(model.score(test.X, test.y)).toBeGreaterThanOrEqual(0.95);
    expect(losses).toEqual(model.lossCurve);
    expect(losses.length).toBe(model.nIter);
    expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 3);
    expect(model.coefs.map((c) => [c.rows, c.cols])).toEqual([
      [2, 32],
      [32, 32],
      [32, 1],
    ]);
  });

  it("classifies iris at ≥ 93% in 5-fold cross-validation", () => {
    const cv = crossValidate(iris(), 5, 1, (train, test) => new MLPClassifier({ learningRateInit: 0.01, maxIter: 300, randomState: 0 }).fit(train.X, train.y).score(test.X, test.y));
    expect(cv).toBeGreaterThanOrEqual(0.93);
  });

  it("stops when the loss stops improving, and with earlyStopping keeps the best held-out network", () => {
    const { X, y } = blobs(600, 3, 2, 3, 6, 6);
    const quick = new MLPClassifier({ learningRateInit: 0.05, maxIter: 500, randomState: 0 }).fit(X, y);
    expect(quick.nIter).toBeLessThan(500);
    const early = new MLPClassifier({ learningRateInit: 0.05, maxIter: 500, earlyStopping: true, randomState: 0 }).fit(X, y);
    expect(early.nIter).toBeLessThan(500);
    expect(early.score(X, y)).toBeGreaterThan(0.97);
  });

  it("partialFit over batches reaches fit's accuracy within 3 points", () => {
    const { train, test } = split(moons(2000, 0.2, 4), 0.3, 5);
    const params = { hiddenLayerSizes: [32], learningRateInit: 0.01, randomState: 0 };
    const fitted = new MLPClassifier({ ...params, maxIter: 60 }).fit(train.X, train.y);
    const online = new MLPClassifier(params);
    const n = train.X.rows;
    for (let epoch = 0; epoch < 60; epoch++) {
      for (let start = 0; start < n; start += 350) {
        const end = Math.min(n, start + 350);
        online.partialFit({ data: train.X.data.subarray(start * 2, end * 2), shape: [end - start, 2] }, train.y.slice(start, end), { classes: [0, 1] });
      }
    }
    expect(online.score(test.X, test.y)).toBeGreaterThan(fitted.score(test.X, test.y) - 0.03);
    expect(online.score(test.X, test.y)).toBeGreaterThan(0.9);
  });

  it("partialFit needs the classes on its first call", () => {
    expect(() => new MLPClassifier().partialFit([[1, 2]], [1])).toThrow(expect.objectContaining({ reason: "CLASSES_REQUIRED" }));
    expect(() => new MLPClassifier().partialFit([[1, 2]], [3], { classes: [1, 2] })).toThrow(expect.objectContaining({ reason: "UNKNOWN_CLASS" }));
  });

  it("exports to ONNX matching predictProba for relu, tanh and logistic: 2 classes, 9 string classes, 1 row and 10,000 rows", async () => {
    const two = moons(1000, 0.2, 6);
    const many = blobs(1500, 9, 4, 7);
    for (const activation of ["relu", "tanh", "logistic"] as const) {
      const binary = new MLPClassifier({ hiddenLayerSizes: [20, 10], activation, maxIter: 30, randomState: 1 }).fit(two.X, two.y);
      const named = new MLPClassifier({ hiddenLayerSizes: [16], activation, maxIter: 30, randomState: 1 }).fit(many.X, stringLabels(many.y));
      for (const [model, big] of [
        [binary, moons(10_000, 0.2, 8).X],
        [named, blobs(10_000, 9, 4, 9).X],
      ] as const) {
        const { agreed } = await expectClassifierOnnxMatches(pool, model, big);
        expect(agreed).toBeGreaterThan(9990);
        await expectClassifierOnnxMatches(pool, model, { data: big.data.slice(0, big.cols), rows: 1, cols: big.cols });
      }
    }
  });

  it("round-trips through JSON, goes on learning after loadModel exactly as the original, and is deterministic", () => {
    const { X, y } = iris();
    const model = new MLPClassifier({ hiddenLayerSizes: [8], maxIter: 20, randomState: 3 }).fit(X, y);
    expectRoundTrip(model, X);
    const loaded = loadModel(JSON.stringify(model.toJSON())) as MLPClassifier;
    model.partialFit(X, y);
    loaded.partialFit(X, y);
    expect(JSON.stringify(loaded.toJSON())).toBe(JSON.stringify(model.toJSON()));
    const a = new MLPClassifier({ hiddenLayerSizes: [8], maxIter: 20, randomState: 3 }).fit(X, y);
    const b = new MLPClassifier({ hiddenLayerSizes: [8], maxIter: 20, randomState: 3 }).fit(X, y);
    expect(JSON.stringify(a.toJSON())).toBe(JSON.stringify(b.toJSON()));
  });
});

describe("MLPRegressor", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("fits y = sin(x0)·x1 + noise with R² ≥ 0.9 held out", () => {
    const { train, test } = split(sinRegression(2000, 0.1, 1), 0.25, 2);
    const model = new MLPRegressor({ hiddenLayerSizes: [64, 64], learningRateInit: 0.005, maxIter: 300, randomState: 0 }).fit(train.X, train.y);
    expect(model.score(test.X, test.y)).toBeGreaterThan(0.9);
  });

  it("partialFit over batches reaches fit's R² within 0.05", () => {
    const { train, test } = split(sinRegression(2000, 0.1, 3), 0.25, 4);
    const params = { hiddenLayerSizes: [32, 32], learningRateInit: 0.005, randomState: 0 };
    const fitted = new MLPRegressor({ ...params, maxIter: 100, tol: 0 }).fit(train.X, train.y);
    const online = new MLPRegressor(params);
    for (let epoch = 0; epoch < 100; epoch++) {
      for (let start = 0; start < train.X.rows; start += 500) {
        const end = Math.min(train.X.rows, start + 500);
        online.partialFit({ data: train.X.data.subarray(start * 2, end * 2), shape: [end - start, 2] }, train.y.slice(start, end));
      }
    }
    expect(online.score(test.X, test.y)).toBeGreaterThan(fitted.score(test.X, test.y) - 0.05);
  });

  it("exports to ONNX matching predict: 1 row and 10,000 rows", async () => {
    const data = sinRegression(1000, 0.1, 5, 3);
    const model = new MLPRegressor({ hiddenLayerSizes: [30, 20], activation: "tanh", maxIter: 40, randomState: 0 }).fit(data.X, data.y);
    const big = sinRegression(10_000, 0.1, 6, 3).X;
    await expectRegressorOnnxMatches(pool, model, big);
    await expectRegressorOnnxMatches(pool, model, { data: big.data.slice(0, 5), rows: 1, cols: 5 });
  });

  it("round-trips through JSON, and is deterministic for a randomState", () => {
    const { X, y } = sinRegression(300, 0.1, 7);
    const a = new MLPRegressor({ hiddenLayerSizes: [10], maxIter: 20, randomState: 3 }).fit(X, y);
    expectRoundTrip(a, X);
    expect(JSON.stringify(new MLPRegressor({ hiddenLayerSizes: [10], maxIter: 20, randomState: 3 }).fit(X, y).toJSON())).toBe(JSON.stringify(a.toJSON()));
  });
});

describeBadInput("MLPClassifier", () => new MLPClassifier({ hiddenLayerSizes: [4], maxIter: 2, randomState: 0 }), "classes");
describeBadInput("MLPRegressor", () => new MLPRegressor({ hiddenLayerSizes: [4], maxIter: 2, randomState: 0 }), "values");
