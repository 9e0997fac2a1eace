import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import type { Matrix } from "../src/matrix.js";
import { MinMaxScaler, StandardScaler } from "../src/preprocessing/index.js";
import { Random } from "../src/random.js";
import { iris, normalMatrix, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectLosslessRoundTrip, expectTransformParity } from "./helpers/linear-onnx.js";

function columnStats(m: Matrix): { mean: number[]; variance: number[] } {
  const mean = Array.from({ length: m.cols }, (_, j) => {
    let s = 0;
    for (let r = 0; r < m.rows; r++) s += m.data[r * m.cols + j];
    return s / m.rows;
  });
  const variance = mean.map((mu, j) => {
    let s = 0;
    for (let r = 0; r < m.rows; r++) s += (m.data[r * m.cols + j] - mu) ** 2;
    return s / m.rows;
  });
  return { mean, variance };
}

function expectRelative(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    expect(Math.abs(actual[i] - expected[i]) / Math.max(1e-300, Math.abs(expected[i])), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
  }
}

/** Features on very different scales and offsets, one of them constant. */
function mixedScales(seed: number, n: number): Matrix {
  const m = normalMatrix(new Random(seed), n, 4);
  for (let r = 0; r < n; r++) {
    m.data[r * 4] = m.data[r * 4] * 1000 + 5e4;
    m.data[r * 4 + 1] = m.data[r * 4 + 1] * 0.001 - 3;
    m.data[r * 4 + 3] = 7;
  }
  return m;
}

describe("StandardScaler", () => {
  const { X } = iris();

  it("learns sklearn's mean_, var_ (ddof 0) and scale_, and standardizes every column", () => {
    const scaler = new StandardScaler().fit(X);
    const { mean, variance } = columnStats(X);
    expectRelative(scaler.mean, mean, 1e-14);
    expectRelative(scaler.variance, variance, 1e-14);
    expectRelative(scaler.scale, variance.map(Math.sqrt), 1e-14);
    expect(scaler.nSamplesSeen).toBe(150);
    const Z = columnStats(scaler.transform(X));
    Z.mean.forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-14));
    Z.variance.forEach((v) => expect(v).toBeCloseTo(1, 12));
    expectRelative(scaler.inverseTransform(scaler.transform(X)).data, X.data, 1e-14);
  });

  it("partialFit over uneven batches gives the same mean and variance as fit (Chan's merge)", () => {
    const data = mixedScales(4, 10_000);
    const fit = new StandardScaler().fit(data);
    const online = new StandardScaler();
    for (const [from, to] of [[0, 1], [1, 700], [700, 701], [701, 5000], [5000, 10_000]]) online.partialFit(rowsOf(data, from, to));
    expectRelative(online.mean, fit.mean, 1e-13);
    expectRelative(online.variance.subarray(0, 3), fit.variance.subarray(0, 3), 1e-11);
    expect(online.nSamplesSeen).toBe(10_000);
  });

  it("maps a constant column to 0 (scale 1), and honours withMean/withStd", () => {
    const data = mixedScales(5, 200);
    const scaler = new StandardScaler().fit(data);
    expect(scaler.scale[3]).toBe(1);
    const Z = scaler.transform(data);
    for (let r = 0; r < 200; r++) expect(Z.data[r * 4 + 3]).toBe(0);
    const noMean = new StandardScaler({ withMean: false }).fit(data).transform(rowsOf(data, 0, 1));
    expect(noMean.data[0]).toBeCloseTo(data.data[0] / scaler.scale[0], 10);
    const noStd = new StandardScaler({ withStd: false }).fit(data).transform(rowsOf(data, 0, 1));
    expect(noStd.data[0]).toBeCloseTo(data.data[0] - scaler.mean[0], 10);
  });
});

describe("MinMaxScaler", () => {
  const data = mixedScales(6, 500);

  it("maps the fitted range onto featureRange, as sklearn's scale_ and min_", () => {
    const scaler = new MinMaxScaler({ featureRange: [-1, 2] }).fit(data);
    const Z = scaler.transform(data);
    for (let j = 0; j < 3; j++) {
      const column = Array.from({ length: 500 }, (_, r) => Z.data[r * 4 + j]);
      expect(Math.min(...column)).toBeCloseTo(-1, 12);
      expect(Math.max(...column)).toBeCloseTo(2, 12);
    }
    // The constant column: range 0, scaled by 1, lands on the low end.
    expect(scaler.scale[3]).toBe(3);
    expect(Z.data[3]).toBeCloseTo(-1, 12);
    expectRelative(scaler.inverseTransform(Z).data.subarray(0, 3), data.data.subarray(0, 3), 1e-12);
  });

  it("clips values outside the fitted range only when asked", () => {
    const outside = { data: Float64Array.of(1e6, 0, 0, 7), rows: 1, cols: 4 };
    expect(new MinMaxScaler().fit(data).transform(outside).data[0]).toBeGreaterThan(1);
    expect(new MinMaxScaler({ clip: true }).fit(data).transform(outside).data[0]).toBe(1);
  });

  it("partialFit keeps running extremes equal to fit's", () => {
    const online = new MinMaxScaler();
    for (let from = 0; from < 500; from += 100) online.partialFit(rowsOf(data, from, from + 100));
    const fit = new MinMaxScaler().fit(data);
    expect(Array.from(online.dataMin)).toEqual(Array.from(fit.dataMin));
    expect(Array.from(online.dataMax)).toEqual(Array.from(fit.dataMax));
  });

  it("rejects an empty or reversed featureRange", () => {
    expect(() => new MinMaxScaler({ featureRange: [1, 1] }).fit(data)).toThrow(/featureRange must be \[low, high\]/);
  });
});

describe("scalers: ONNX, serialization, bad input", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const { X } = iris();
  const scalers = [
    new StandardScaler().fit(X),
    new StandardScaler({ withMean: false }).fit(X),
    new MinMaxScaler().fit(X),
    new MinMaxScaler({ featureRange: [-1, 1], clip: true }).fit(rowsOf(X, 0, 100)),
  ];

  for (const scaler of scalers) {
    it(`${scaler.kind} ${JSON.stringify(scaler.getParams())}: ONNX transform equals transform(), 1 row and 10,000 rows`, async () => {
      await expectTransformParity(pool, scaler, rowsOf(X, 120, 121));
      await expectTransformParity(pool, scaler, repeatRows(X, 10_000));
    });
    it(`${scaler.kind} ${JSON.stringify(scaler.getParams())}: toJSON → loadModel is lossless`, () => {
      expectLosslessRoundTrip(scaler, X, (m, x) => (m as StandardScaler).transform(x).data);
    });
  }

  for (const make of [() => new StandardScaler(), () => new MinMaxScaler()]) {
    describe(make().kind, () => {
      itRejectsBadInput(make, rowsOf(X, 0, 20), undefined, (m, x) => (m as StandardScaler).transform(x));
      it("rejects a partialFit batch of another width", () => {
        const scaler = make() as StandardScaler;
        scaler.partialFit(X);
        expect(() => scaler.partialFit({ data: new Float64Array(3), shape: [1, 3] })).toThrow(/fitted on 4 columns, X has 3/);
      });
    });
  }
});
