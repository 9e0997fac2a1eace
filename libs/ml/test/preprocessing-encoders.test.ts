import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { InvalidInputError } from "../src/errors.js";
import type { Matrix } from "../src/matrix.js";
import { OneHotEncoder, SimpleImputer } from "../src/preprocessing/index.js";
import { Random } from "../src/random.js";
import { repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectLosslessRoundTrip, expectTransformParity } from "./helpers/linear-onnx.js";

const rows = (r: number[][]): Matrix => ({ data: Float64Array.from(r.flat()), rows: r.length, cols: r[0].length });

/** Integer categories per column: column j takes values from `levels[j]`. */
function categorical(seed: number, n: number, levels: number[][]): Matrix {
  const random = new Random(seed);
  return rows(Array.from({ length: n }, () => levels.map((l) => l[random.int(l.length)])));
}

/** Normal values with ~20% NaN, and one column entirely missing. */
function withGaps(seed: number, n: number): Matrix {
  const random = new Random(seed);
  return rows(Array.from({ length: n }, () => [random.normal(), random.next() < 0.2 ? NaN : random.int(4), NaN, random.next() < 0.2 ? NaN : 10 + random.normal()]));
}

describe("OneHotEncoder", () => {
  const X = rows([
    [3, 10],
    [1, 20],
    [3, 10],
    [2, 30],
  ]);

  it("learns sorted categories per column and writes one 0/1 column per category, in sklearn's order", () => {
    const encoder = new OneHotEncoder().fit(X);
    expect(encoder.categories.map((c) => Array.from(c))).toEqual([
      [1, 2, 3],
      [10, 20, 30],
    ]);
    expect(encoder.featureNamesOut()).toEqual(["x0_1", "x0_2", "x0_3", "x1_10", "x1_20", "x1_30"]);
    const out = encoder.transform(X);
    expect(out.cols).toBe(6);
    expect(Array.from(out.data.subarray(0, 12))).toEqual([0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0]);
  });

  it("handleUnknown 'error' names the column and value; 'ignore' writes zeros for that column", () => {
    const unseen = rows([[4, 10]]);
    let error: unknown;
    try {
      new OneHotEncoder().fit(X).transform(unseen);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).reason).toBe("UNKNOWN_CATEGORY");
    expect((error as Error).message).toMatch(/unknown category 4 in column 0 \(row 0\)/);
    expect(Array.from(new OneHotEncoder({ handleUnknown: "ignore" }).fit(X).transform(unseen).data)).toEqual([0, 0, 0, 1, 0, 0]);
  });

  it("accepts given categories, and refuses training values outside them", () => {
    const encoder = new OneHotEncoder({ categories: [[3, 2, 1, 0], [10, 20, 30]] }).fit(X);
    expect(Array.from(encoder.categories[0])).toEqual([0, 1, 2, 3]);
    expect(encoder.transform(rows([[0, 30]])).data).toEqual(Float64Array.of(1, 0, 0, 0, 0, 0, 1));
    expect(() => new OneHotEncoder({ categories: [[1, 2], [10, 20, 30]] }).fit(X)).toThrow(/unknown category 3 in column 0/);
  });
});

describe("SimpleImputer", () => {
  const X = rows([
    [1, NaN, 5],
    [NaN, 2, 5],
    [3, 2, NaN],
    [8, 4, 7],
  ]);

  it("fills NaN with each strategy's statistic, as sklearn", () => {
    const cases = {
      mean: [4, 8 / 3, 17 / 3],
      median: [3, 2, 5],
      most_frequent: [1, 2, 5],
      constant: [0, 0, 0],
    } as const;
    for (const [strategy, statistics] of Object.entries(cases)) {
      const imputer = new SimpleImputer({ strategy: strategy as keyof typeof cases }).fit(X);
      statistics.forEach((v, j) => expect(imputer.statistics[j]).toBeCloseTo(v, 12));
      const out = imputer.transform(X);
      expect(out.data[1]).toBeCloseTo(statistics[1], 12);
      expect(out.data[3]).toBeCloseTo(statistics[0], 12);
      expect(out.data[5]).toBe(5);
    }
    expect(new SimpleImputer({ strategy: "constant", fillValue: -1 }).fit(X).transform(X).data[1]).toBe(-1);
  });

  it("drops a column with no observed value unless keepEmptyFeatures, as sklearn", () => {
    const data = withGaps(1, 50);
    expect(new SimpleImputer().fit(data).transform(data).cols).toBe(3);
    const kept = new SimpleImputer({ keepEmptyFeatures: true }).fit(data).transform(data);
    expect(kept.cols).toBe(4);
    for (let r = 0; r < 50; r++) expect(kept.data[r * 4 + 2]).toBe(0);
    expect(new SimpleImputer({ strategy: "constant", fillValue: 9 }).fit(data).transform(data).cols).toBe(4);
  });

  it("still rejects Infinity, naming the column", () => {
    const bad = rows([
      [1, Infinity],
      [2, 3],
    ]);
    expect(() => new SimpleImputer().fit(bad)).toThrow(/Infinity in column 1/);
  });
});

describe("encoders: ONNX, serialization, bad input", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const cats = categorical(3, 300, [[0, 1, 2], [-5, 5], [10, 20, 30, 40, 50, 60, 70]]);
  const gaps = withGaps(2, 300);

  it("OneHotEncoder ONNX equals transform(); under 'ignore', unknown values give zeros in both", async () => {
    const encoder = new OneHotEncoder({ handleUnknown: "ignore" }).fit(rowsOf(cats, 0, 200));
    const withUnknown = { ...cats, data: cats.data.map((v, i) => (i % 17 === 0 ? 99 : v)) };
    await expectTransformParity(pool, encoder, repeatRows(withUnknown, 10_000));
    await expectTransformParity(pool, encoder, rowsOf(cats, 0, 1));
  });

  for (const strategy of ["mean", "median", "most_frequent", "constant"] as const) {
    it(`SimpleImputer "${strategy}": ONNX fills NaN and drops columns as transform() does`, async () => {
      const imputer = new SimpleImputer({ strategy, fillValue: strategy === "constant" ? 2.5 : null }).fit(gaps);
      await expectTransformParity(pool, imputer, repeatRows(gaps, 10_000));
      await expectTransformParity(pool, imputer, rowsOf(gaps, 1, 2));
    });
  }

  it("toJSON → loadModel is lossless", () => {
    expectLosslessRoundTrip(new OneHotEncoder({ handleUnknown: "ignore" }).fit(cats), cats, (m, x) => m.transform(x).data);
    expectLosslessRoundTrip(new SimpleImputer({ strategy: "median" }).fit(gaps), gaps, (m, x) => m.transform(x).data);
  });

  describe("OneHotEncoder", () => {
    itRejectsBadInput(() => new OneHotEncoder(), rowsOf(cats, 0, 30), undefined, (m, x) => (m as OneHotEncoder).transform(x));
  });
  describe("SimpleImputer", () => {
    itRejectsBadInput(() => new SimpleImputer(), rowsOf(cats, 0, 30), undefined, (m, x) => (m as SimpleImputer).transform(x), { allowsNaN: true });
  });
});
