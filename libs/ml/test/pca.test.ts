import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxWorkerPool } from "@kiln/onnx";
import { PCA } from "../src/decomposition/index.js";
import type { Matrix } from "../src/matrix.js";
import { Random } from "../src/random.js";
import { iris, normalMatrix, repeatRows, rowsOf } from "./helpers/linear-data.js";
import { itRejectsBadInput } from "./helpers/linear-bad-input.js";
import { expectLosslessRoundTrip, expectTransformParity } from "./helpers/linear-onnx.js";

// scikit-learn 1.2.1 PCA() on iris; components with sklearn ≥ 1.5's sign rule (largest |entry| of each component positive).
const SKLEARN_IRIS = {
  components: [
    0.36138659178536864, -0.08452251406456868, 0.8566706059498349, 0.3582891971515507, 0.6565887712868423, 0.7301614347850266, -0.17337266279585706,
    -0.07548101991746337, -0.5820298513060651, 0.5979108301000855, 0.0762360758209632, 0.5458314320200757, 0.3154871929039752, -0.31972310366612955,
    -0.47983898699463434, 0.7536574252640454,
  ],
  explainedVariance: [4.228241706034864, 0.24267074792863336, 0.07820950004291938, 0.023835092973449434],
  explainedVarianceRatio: [0.9246187232017271, 0.05306648311706782, 0.017102609807929763, 0.005212183873275374],
  singularValues: [25.099960442183864, 6.013147382308733, 3.4136806391921004, 1.8845235082226928],
};

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(Math.abs(actual[i] - expected[i]), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance);
}

/** Rows near a `rank`-dimensional subspace of R^k, plus a little noise. */
function lowRank(seed: number, n: number, k: number, rank: number): Matrix {
  const random = new Random(seed);
  const basis = normalMatrix(random, rank, k);
  const scores = normalMatrix(random, n, rank);
  const data = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) {
      let s = 0.01 * random.normal() + j;
      for (let i = 0; i < rank; i++) s += scores.data[r * rank + i] * basis.data[i * k + j] * (rank - i);
      data[r * k + j] = s;
    }
  }
  return { data, rows: n, cols: k };
}

describe("PCA against scikit-learn", () => {
  const { X } = iris();

  it("iris: components (with sklearn's signs), explained variance and its ratio, singular values", () => {
    const pca = new PCA().fit(X);
    expect(pca.nComponents).toBe(4);
    expectNear(pca.components.data, SKLEARN_IRIS.components, 1e-12);
    expectNear(pca.explainedVariance, SKLEARN_IRIS.explainedVariance, 1e-12);
    expectNear(pca.explainedVarianceRatio, SKLEARN_IRIS.explainedVarianceRatio, 1e-14);
    expectNear(pca.singularValues, SKLEARN_IRIS.singularValues, 1e-11);
    expect(pca.noiseVariance).toBe(0);
  });

  it("a fraction keeps the fewest components whose cumulative ratio exceeds it (iris: 0.95 → 2, 0.99 → 3)", () => {
    expect(new PCA({ nComponents: 0.95 }).fit(X).nComponents).toBe(2);
    expect(new PCA({ nComponents: 0.99 }).fit(X).nComponents).toBe(3);
    const two = new PCA({ nComponents: 2 }).fit(X);
    expect(two.noiseVariance).toBeCloseTo((SKLEARN_IRIS.explainedVariance[2] + SKLEARN_IRIS.explainedVariance[3]) / 2, 12);
  });
});

describe("PCA behaviour", () => {
  it("finds the subspace of low-rank data, and inverseTransform reconstructs it", () => {
    const data = lowRank(1, 400, 8, 3);
    const pca = new PCA({ nComponents: 3 }).fit(data);
    expect(pca.explainedVarianceRatio.reduce((a, b) => a + b, 0)).toBeGreaterThan(0.9999);
    const back = pca.inverseTransform(pca.transform(data));
    for (let i = 0; i < data.data.length; i++) expect(Math.abs(back.data[i] - data.data[i])).toBeLessThan(0.06);
  });

  it("with more columns than rows uses the SVD and agrees with the transposed problem's variances", () => {
    const wide = lowRank(2, 10, 30, 4);
    const pca = new PCA().fit(wide);
    expect(pca.nComponents).toBe(10);
    const total = pca.explainedVariance.reduce((a, b) => a + b, 0);
    const ratios = pca.explainedVarianceRatio.reduce((a, b) => a + b, 0);
    expect(ratios).toBeCloseTo(1, 12);
    const Z = pca.transform(wide);
    let variance = 0;
    for (let i = 0; i < Z.data.length; i++) variance += Z.data[i] ** 2 / 9;
    expect(variance).toBeCloseTo(total, 8);
    // Components are orthonormal.
    const c = pca.components;
    for (let a = 0; a < 4; a++) {
      for (let b = 0; b < 4; b++) {
        let dot = 0;
        for (let j = 0; j < 30; j++) dot += c.data[a * 30 + j] * c.data[b * 30 + j];
        expect(dot).toBeCloseTo(a === b ? 1 : 0, 10);
      }
    }
  });

  it("whiten scales every component to unit variance", () => {
    const { X } = iris();
    const Z = new PCA({ whiten: true }).fit(X).transform(X);
    for (let i = 0; i < 4; i++) {
      let s = 0;
      for (let r = 0; r < 150; r++) s += Z.data[r * 4 + i] ** 2;
      expect(s / 149).toBeCloseTo(1, 10);
    }
  });

  it("rejects nComponents beyond the rank, naming the limit", () => {
    expect(() => new PCA({ nComponents: 5 }).fit(iris().X)).toThrow(/nComponents must be null, an integer in \[1, 4\]/);
  });
});

describe("PCA: ONNX, serialization, bad input", () => {
  let pool: OnnxWorkerPool;
  beforeAll(() => {
    pool = new OnnxWorkerPool();
  });
  afterAll(() => pool.close());

  const { X } = iris();
  const data = lowRank(3, 500, 12, 5);

  for (const params of [{}, { nComponents: 2 }, { nComponents: 3, whiten: true }]) {
    it(`ONNX transform equals transform() for ${JSON.stringify(params)}, 1 row and 10,000 rows`, async () => {
      await expectTransformParity(pool, new PCA(params).fit(X), rowsOf(X, 0, 1));
      await expectTransformParity(pool, new PCA(params).fit(X), repeatRows(X, 10_000));
      await expectTransformParity(pool, new PCA(params).fit(data), repeatRows(data, 10_000));
    });
  }

  it("toJSON → loadModel is lossless", () => {
    expectLosslessRoundTrip(new PCA({ nComponents: 0.9 }).fit(data), data, (m, x) => m.transform(x).data);
  });

  itRejectsBadInput(() => new PCA(), rowsOf(X, 0, 30), undefined, (m, x) => (m as PCA).transform(x));
});
