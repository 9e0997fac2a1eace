import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { MLError } from "../src/errors.js";
import { LogisticRegression } from "../src/linear/index.js";
import { accuracyScore } from "../src/metrics.js";
import { iris, makeBlobs, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectClassifierParity, expectLosslessRoundTrip } from "./helpers/linear-onnx.js";

// scikit-learn 1.2.1, LogisticRegression(tol=1e-12, max_iter=100000): the optimum both solvers approach.
const SKLEARN = {
  irisC1: {
    coef: [-0.42329263533726513, 0.9672667491013865, -2.5172022765330087, -1.0796345304694674, 0.5343398356837051, -0.3213683032469039, -0.20632422148052715, -0.9441847351667134, -0.11104720034643377, -0.6458984458544742, 2.723526498013545, 2.0238192656361877],
    intercept: [9.848946878387263, 2.2369401145592436, -12.08588699294603],
  },
  irisC01: {
    coef: [-0.30245854565719804, 0.3462687596302313, -1.1811841015112472, -0.480021435790912, 0.07092909730800984, -0.331526560026326, 0.07289076714890089, -0.23053664908548344, 0.2315294483491881, -0.014742199603905019, 1.108293334362346, 0.7105580848763958],
    intercept: [5.32612722578558, 1.5900633179439976, -6.916190543729448],
  },
  // Sepal length and width; virginica (1) against the rest (0).
  irisBinary: { coef: [2.221958997198825, -0.5127043788645851], intercept: [-12.529696943154526] },
  // makeBlobs(5, 200, 4, ["a", "b", "c", "d"], { spread: 1.5 }).
  blobs4: {
    coef: [0.35669298331017213, 1.0981644851135484, -0.7180012344358626, 0.6820904975429071, -1.4326326054803171, 0.4876218491550004, 0.7326897733232905, -0.13171006267080587, 0.9000752242167435, -0.35821482338145066, 0.6633734506484508, 0.693689629359301, 0.1758643979534016, -1.227571510887096, -0.678061989535879, -1.2440700642314022],
    intercept: [0.9255680455598594, 0.7294132756357583, -0.9534298584359102, -0.7015514627597074],
  },
};

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
}

function sepals() {
  const { X, y } = iris();
  const data = new Float64Array(X.rows * 2);
  for (let r = 0; r < X.rows; r++) data.set(X.data.subarray(r * 4, r * 4 + 2), r * 2);
  return { X: { data, rows: X.rows, cols: 2 }, y: y.map((c) => (c === "virginica" ? 1 : 0)) };
}

describe("LogisticRegression against scikit-learn", () => {
  it("multinomial on raw iris reaches sklearn's optimum with the default tol and maxIter", () => {
    const { X, y } = iris();
    const model = new LogisticRegression().fit(X, y);
    expect(model.converged).toBe(true);
    expect(model.classes).toEqual(["setosa", "versicolor", "virginica"]);
    expect([model.coef.rows, model.coef.cols]).toEqual([3, 4]);
    expectNear(model.coef.data, SKLEARN.irisC1.coef, 2e-3);
    expectNear(model.intercept, SKLEARN.irisC1.intercept, 5e-3);
    const strong = new LogisticRegression({ C: 0.1 }).fit(X, y);
    expectNear(strong.coef.data, SKLEARN.irisC01.coef, 5e-4);
    expectNear(strong.intercept, SKLEARN.irisC01.intercept, 5e-3);
  });

  it("binary logistic has one coefficient row, as sklearn's", () => {
    const { X, y } = sepals();
    const model = new LogisticRegression().fit(X, y);
    expect([model.coef.rows, model.coef.cols]).toEqual([1, 2]);
    expectNear(model.coef.data, SKLEARN.irisBinary.coef, 1e-4);
    expectNear(model.intercept, SKLEARN.irisBinary.intercept, 1e-3);
  });

  it("four string classes on generated blobs", () => {
    const { X, y } = makeBlobs(5, 200, 4, ["a", "b", "c", "d"], { spread: 1.5 });
    const model = new LogisticRegression().fit(X, y);
    expectNear(model.coef.data, SKLEARN.blobs4.coef, 1e-4);
    expectNear(model.intercept, SKLEARN.blobs4.intercept, 5e-4);
  });
});

describe("LogisticRegression: quality and behaviour", () => {
  it("classifies iris as sklearn does (train accuracy 0.973) with probabilities that sum to 1", () => {
    const { X, y } = iris();
    const model = new LogisticRegression().fit(X, y);
    expect(model.score(X, y)).toBeCloseTo(0.9733, 3);
    const p = model.predictProba(X);
    for (let r = 0; r < p.rows; r++) expect(p.data[r * 3] + p.data[r * 3 + 1] + p.data[r * 3 + 2]).toBeCloseTo(1, 12);
  });

  it("separates ten well-separated classes on held-out rows", () => {
    const labels = Array.from({ length: 10 }, (_, i) => i * 10);
    const { X, y } = makeBlobs(8, 3000, 6, labels, { spread: 0.8, separation: 6 });
    const model = new LogisticRegression().fit(rowsOf(X, 0, 2000), y.slice(0, 2000));
    expect(model.classes).toEqual(labels);
    expect(accuracyScore(y.slice(2000), model.predict(rowsOf(X, 2000, 3000)))).toBeGreaterThan(0.97);
  });

  it("stronger regularisation (smaller C) shrinks the coefficients; penalty null does not shrink", () => {
    const { X, y } = makeBlobs(2, 300, 3, [0, 1], { spread: 2 });
    const norm = (C: number) => Math.hypot(...new LogisticRegression({ C }).fit(X, y).coef.data);
    expect(norm(0.01)).toBeLessThan(norm(1));
    expect(norm(1)).toBeLessThan(Math.hypot(...new LogisticRegression({ penalty: null }).fit(X, y).coef.data) + 1e-9);
  });

  it("is deterministic, and warmStart starts from the previous optimum", () => {
    const { X, y } = iris();
    const a = new LogisticRegression().fit(X, y);
    const b = new LogisticRegression().fit(X, y);
    expect(Array.from(a.coef.data)).toEqual(Array.from(b.coef.data));
    const warm = new LogisticRegression({ warmStart: true }).fit(X, y);
    warm.fit(X, y);
    expect(warm.nIter).toBeLessThan(a.nIter);
  });
});

describe("LogisticRegression: ONNX", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  it("iris (3 string classes): labels and probabilities, 1 row and 10,000 rows", async () => {
    const { X, y } = iris();
    const model = new LogisticRegression().fit(X, y);
    await expectClassifierParity(pool, model, rowsOf(X, 70, 71));
    await expectClassifierParity(pool, model, repeatRows(X, 10_000));
  });

  it("two classes 0/1 (label is the class index) and two classes 3/7 (gathered)", async () => {
    const { X, y } = makeBlobs(3, 400, 3, [0, 1], { spread: 2 });
    await expectClassifierParity(pool, new LogisticRegression().fit(X, y), X);
    const relabelled = new LogisticRegression().fit(X, y.map((c) => (c ? 7 : 3)));
    await expectClassifierParity(pool, relabelled, repeatRows(X, 10_000));
    await expectClassifierParity(pool, relabelled, rowsOf(X, 0, 1));
  });

  it("ten classes with string labels", async () => {
    const labels = Array.from({ length: 10 }, (_, i) => `class-${i}`);
    const { X, y } = makeBlobs(4, 1000, 5, labels, { spread: 1.5 });
    await expectClassifierParity(pool, new LogisticRegression({ C: 10 }).fit(X, y), repeatRows(X, 10_000));
  });

  it("refuses to export non-integer numeric classes", () => {
    const { X, y } = makeBlobs(3, 50, 2, [0.5, 1.5]);
    const model = new LogisticRegression().fit(X, y);
    expect(model.classes).toEqual([0.5, 1.5]);
    expect(new Set(model.predict(X))).toEqual(new Set([0.5, 1.5]));
    expect(() => model.toOnnx()).toThrow(MLError);
    expect(() => model.toOnnx()).toThrow(/integer or string class labels, got 0.5/);
  });
});

describe("LogisticRegression: serialization and parameters", () => {
  it("toJSON → loadModel is lossless for binary and multinomial models", () => {
    const { X, y } = iris();
    expectLosslessRoundTrip(new LogisticRegression({ C: 2 }).fit(X, y), X, (m, x) => m.predictProba(x).data);
    const b = sepals();
    expectLosslessRoundTrip(new LogisticRegression().fit(b.X, b.y), b.X, (m, x) => m.predict(x));
  });

  it("has sklearn's defaults and validates them at fit", () => {
    expect(new LogisticRegression().getParams()).toEqual({ penalty: "l2", C: 1, fitIntercept: true, tol: 1e-4, maxIter: 100, solver: "lbfgs", warmStart: false });
    const { X, y } = iris();
    expect(() => new LogisticRegression({ C: 0 }).fit(X, y)).toThrow(/C must be a finite number > 0/);
    expect(() => new LogisticRegression({ penalty: "l1" as never }).fit(X, y)).toThrow(/penalty must be "l2" or null/);
  });
});

describe("LogisticRegression: bad input", () => {
  const { X, y } = makeBlobs(1, 40, 3, ["x", "y"]);
  itRejectsBadInput(() => new LogisticRegression(), X, y, (m, x) => (m as LogisticRegression).predict(x), { classifier: true });

  it("rejects predictProba and toOnnx before fit, and mixed label types", () => {
    expect(() => new LogisticRegression().predictProba(X)).toThrow(/not fitted/);
    expect(() => new LogisticRegression().toOnnx()).toThrow(/not fitted/);
    expect(() => new LogisticRegression().fit(X, y.map((v, i) => (i % 2 ? v : 1)) as never)).toThrow(/mixes numbers and strings/);
  });
});
