import { describe, expect, it } from "vitest";
import { addBlockGram } from "../src/linear/gram-block.js";
import { KMeans, Lasso, MLPRegressor, Ridge } from "../src/index.js";
import { addTransposedProduct, multiplyAddBias, multiplyTransposed } from "../src/neural/matmul.js";
import { Random } from "../src/random.js";

const random = new Random(3);
const values = (n: number) => Float64Array.from({ length: n }, () => random.normal());

// Shapes that leave every kind of edge next to the register tiles (remainders 0, 1 and 2).
const SHAPES: [number, number, number][] = [[1, 1, 1], [2, 5, 3], [7, 4, 5], [9, 6, 12], [200, 50, 100], [11, 13, 1]];

describe("tiled kernels equal the plain loops bit for bit", () => {
  it.each(SHAPES)("multiplyAddBias, addTransposedProduct, multiplyTransposed for %i × %i × %i", (m, k, n) => {
    const A = values(m * k);
    const B = values(k * n);
    const bias = values(n);
    const C = new Float64Array(m * n);
    multiplyAddBias(A, B, bias, C, m, k, n);
    const expected = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = bias[j];
      for (let p = 0; p < k; p++) s += A[i * k + p] * B[p * n + j];
      expected[i * n + j] = s;
    }
    expect(C).toEqual(expected);

    const D = values(m * n);
    const G = values(k * n);
    const start = G.slice();
    addTransposedProduct(A, D, G, m, k, n);
    for (let p = 0; p < k; p++) for (let j = 0; j < n; j++) {
      let s = start[p * n + j];
      for (let r = 0; r < m; r++) s += A[r * k + p] * D[r * n + j];
      expect(G[p * n + j]).toBe(s);
    }

    const P = new Float64Array(m * k);
    multiplyTransposed(D, B, P, m, n, k);
    for (let r = 0; r < m; r++) for (let p = 0; p < k; p++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += D[r * n + j] * B[p * n + j];
      expect(P[r * k + p]).toBe(s);
    }
  });

  it.each([1, 2, 3, 4, 5, 7, 51])("addBlockGram's upper triangle for %i columns", (k) => {
    const stride = 9;
    const len = 7;
    const T = values(k * stride);
    const gram = new Float64Array(k * k);
    addBlockGram(gram, k, T, stride, len);
    for (let a = 0; a < k; a++) for (let b = a; b < k; b++) {
      let s = 0;
      for (let i = 0; i < len; i++) s += T[a * stride + i] * T[b * stride + i];
      expect(gram[a * k + b]).toBe(s);
    }
  });
});

describe("estimators that read X in place", () => {
  it("leave the caller's float64 X and y as they were", () => {
    const X = { data: values(300 * 4), rows: 300, cols: 4 };
    const y = values(300);
    const before = X.data.slice();
    const yBefore = y.slice();
    new Ridge().fit(X, y);
    new Lasso({ alpha: 0.01 }).fit(X, y);
    new KMeans({ nClusters: 3, randomState: 0 }).fit(X);
    new MLPRegressor({ hiddenLayerSizes: [5], maxIter: 2, randomState: 0 }).fit(X, y);
    expect(X.data).toEqual(before);
    expect(y).toEqual(yBefore);
  });
});
