import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../src/errors.js";
import { LogisticRegression, Ridge } from "../src/linear/index.js";
import type { Matrix } from "../src/matrix.js";
import { crossValScore, KFold, StratifiedKFold, trainTestSplit } from "../src/model-selection.js";
import { Pipeline } from "../src/pipeline.js";
import { StandardScaler } from "../src/preprocessing/index.js";
import { iris } from "./helpers/linear-data.js";

const indexed = (n: number): Matrix => ({ data: Float64Array.from({ length: n }, (_, i) => i), rows: n, cols: 1 });

describe("trainTestSplit", () => {
  it("splits 25% to test by default, keeping rows and labels together", () => {
    const y = Array.from({ length: 10 }, (_, i) => `r${i}`);
    const split = trainTestSplit(indexed(10), y, { randomState: 1 });
    expect([split.XTrain.rows, split.XTest.rows]).toEqual([7, 3]);
    const seen = [...split.XTrain.data, ...split.XTest.data].sort((a, b) => a - b);
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => i));
    split.XTest.data.forEach((v, i) => expect(split.yTest[i]).toBe(`r${v}`));
  });

  it("takes sizes as fractions (test rounded up, as sklearn) or counts; shuffle false keeps order", () => {
    expect(trainTestSplit(indexed(10), new Float64Array(10), { testSize: 0.33, randomState: 0 }).XTest.rows).toBe(4);
    expect(trainTestSplit(indexed(10), new Float64Array(10), { trainSize: 6, randomState: 0 }).XTest.rows).toBe(4);
    const ordered = trainTestSplit(indexed(8), new Float64Array(8), { testSize: 2, shuffle: false });
    expect(Array.from(ordered.XTest.data)).toEqual([6, 7]);
    expect(() => trainTestSplit(indexed(8), new Float64Array(8), { testSize: 1.5 })).toThrow(InvalidInputError);
  });

  it("is deterministic given randomState, and stratify keeps class proportions", () => {
    const { X, y } = iris();
    const a = trainTestSplit(X, y, { randomState: 3, testSize: 0.2, stratify: y });
    const b = trainTestSplit(X, y, { randomState: 3, testSize: 0.2, stratify: y });
    expect(Array.from(a.XTest.data)).toEqual(Array.from(b.XTest.data));
    for (const label of ["setosa", "versicolor", "virginica"]) expect(a.yTest.filter((l) => l === label)).toHaveLength(10);
    expect(a.XTrain.rows).toBe(120);
  });
});

describe("KFold and StratifiedKFold", () => {
  it("splits and stratifies a million rows (no spread of every row into one call)", () => {
    const n = 1_000_000;
    const y = Int32Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const folds = new StratifiedKFold({ nSplits: 2 }).split(n, y);
    expect(folds.map((f) => f.test.length)).toEqual([500_000, 500_000]);
    const split = trainTestSplit(indexed(n), y, { testSize: 0.5, stratify: y, randomState: 0 });
    expect(split.yTest.filter((c) => c === 1)).toHaveLength(50_000);
  });

  it("KFold makes sklearn's folds: contiguous, the first n % k one larger", () => {
    const folds = new KFold({ nSplits: 5 }).split(12);
    expect(folds.map((f) => Array.from(f.test))).toEqual([[0, 1, 2], [3, 4, 5], [6, 7], [8, 9], [10, 11]]);
    folds.forEach((f) => expect(f.train.length + f.test.length).toBe(12));
    const shuffled = new KFold({ nSplits: 3, shuffle: true, randomState: 1 }).split(12);
    expect(shuffled.flatMap((f) => Array.from(f.test)).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(shuffled.map((f) => Array.from(f.test))).toEqual(new KFold({ nSplits: 3, shuffle: true, randomState: 1 }).split(12).map((f) => Array.from(f.test)));
  });

  it("StratifiedKFold deals rows to folds exactly as sklearn does", () => {
    const y = ["b", "a", "b", "c", "a", "b", "b", "c", "a", "b", "c", "b", "a", "b"];
    const folds = new StratifiedKFold({ nSplits: 3 }).split(y.length, y);
    expect(folds.map((f) => Array.from(f.test))).toEqual([
      [0, 1, 2, 3, 5],
      [4, 6, 7, 8, 9],
      [10, 11, 12, 13],
    ]);
  });

  it("rejects impossible splits", () => {
    expect(() => new KFold({ nSplits: 1 })).toThrow(/nSplits must be an integer ≥ 2/);
    expect(() => new KFold({ nSplits: 5 }).split(3)).toThrow(/cannot split 3 rows into 5 folds/);
    expect(() => new StratifiedKFold({ nSplits: 4 }).split(4, ["a", "a", "b", "b"])).toThrow(/greater than every class/);
  });
});

describe("crossValScore", () => {
  const { X, y } = iris();

  it("scores each stratified fold of a classifier as sklearn does (iris, LogisticRegression, cv=5)", () => {
    const scores = crossValScore(() => new LogisticRegression({ maxIter: 1000 }), X, y, { cv: 5 });
    expect(Array.from(scores).map((s) => s.toFixed(4))).toEqual(["0.9667", "1.0000", "0.9333", "0.9667", "1.0000"]);
    const f1 = crossValScore(new LogisticRegression({ maxIter: 1000 }), X, y, { scoring: "f1_macro" });
    expect(f1[2]).toBeCloseTo(0.9326599326599326, 10);
  });

  it("uses plain KFold for regressors, as sklearn (petal width from the other columns, Ridge)", () => {
    const features: Matrix = { data: Float64Array.from({ length: 450 }, (_, i) => X.data[Math.floor(i / 3) * 4 + (i % 3)]), rows: 150, cols: 3 };
    const target = Float64Array.from({ length: 150 }, (_, r) => X.data[r * 4 + 3]);
    const expected = [-0.1279255491082114, 0.931720975597748, 0.5828459128556462, 0.7389441300149735, -0.2970061020511574];
    const scores = crossValScore(() => new Ridge(), features, target);
    expected.forEach((v, i) => expect(scores[i]).toBeCloseTo(v, 10));
  });

  it("accepts pipelines (cloned unfitted), a splitter, and a scoring function", () => {
    const pipe = new Pipeline([new StandardScaler(), new LogisticRegression()]).fit(X, y);
    const scores = crossValScore(pipe, X, y, { cv: new StratifiedKFold({ nSplits: 3, shuffle: true, randomState: 0 }), scoring: "accuracy" });
    expect(scores).toHaveLength(3);
    scores.forEach((s) => expect(s).toBeGreaterThan(0.85));
    const custom = crossValScore(() => new LogisticRegression(), X, y, { cv: 3, scoring: (_model, Xt) => Xt.rows });
    expect(Array.from(custom)).toEqual([50, 50, 50]);
  });
});
