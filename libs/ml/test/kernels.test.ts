import { describe, expect, it } from "vitest";
import { addBlockGram } from "../src/linear/gram-block.js";
import { scalarMoments, simdMoments } from "../src/linear/normal-equations.js";
import { logisticObjective, logisticObjectiveInJs } from "../src/linear/logistic-objective.js";
import { gramKernel } from "../src/wasm/gram-rows.js";
import { assignNearestScalar, assignNearestSimd, squaredDistances } from "../src/cluster/distances.js";
import { scaledTolerance } from "../src/cluster/lloyd.js";
import { centerDotsKernel } from "../src/wasm/center-dots.js";
import { emitter, op, V128 } from "../src/wasm/assemble.js";
import { expF64x2 } from "../src/wasm/exp.js";
import { instantiateKernel, kernelMemory, type KernelMemory } from "../src/wasm/kernel-instance.js";
import { assignRows, centerStateSizes, distance2, prepareCenters, type CenterState, type RowState } from "../src/cluster/hamerly.js";
import { KMeans, Lasso, LogisticRegression, MLPRegressor, Ridge } from "../src/index.js";
import { CorrectionPairs } from "../src/linear/lbfgs.js";
import {
  addTransposedProduct,
  addTransposedProductInJs,
  addTransposedProductSimd,
  multiplyAddBias,
  multiplyAddBiasInJs,
  multiplyAddBiasSimd,
  multiplyTransposed,
} from "../src/neural/matmul.js";
import { denseProductsKernel } from "../src/wasm/dense-products.js";
import { Random } from "../src/random.js";

const random = new Random(3);
const values = (n: number) => Float64Array.from({ length: n }, () => random.normal());

// Shapes that leave every kind of edge next to the register tiles (remainders 0, 1 and 2; in
// WebAssembly widths off a multiple of 4 and more rows than one block of 256).
const SHAPES: [number, number, number][] = [[1, 1, 1], [2, 5, 3], [7, 4, 5], [9, 6, 12], [200, 50, 100], [11, 13, 1], [300, 7, 13], [260, 9, 4]];

const dense = denseProductsKernel();
const IMPLEMENTATIONS = [
  ["as dispatched", multiplyAddBias, addTransposedProduct],
  ["in JavaScript", multiplyAddBiasInJs, addTransposedProductInJs],
  ...(dense
    ? ([["in WebAssembly SIMD", (...a: Parameters<typeof multiplyAddBias>) => multiplyAddBiasSimd(dense, ...a), (...a: Parameters<typeof addTransposedProduct>) => addTransposedProductSimd(dense, ...a)]] as const)
    : []),
] as const;

describe("tiled kernels equal the plain loops bit for bit", () => {
  it.each(IMPLEMENTATIONS.flatMap(([how, forward, gradient]) => SHAPES.map((shape) => [how, ...shape, forward, gradient] as const)))(
    "multiplyAddBias, addTransposedProduct %s, and multiplyTransposed, for %i × %i × %i",
    (_how, m, k, n, forward, gradient) => {
      const A = values(m * k);
      const B = values(k * n);
      const bias = values(n);
      const C = new Float64Array(m * n);
      forward(A, B, bias, C, m, k, n);
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
      gradient(A, D, G, m, k, n);
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
    },
  );

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

describe("the WebAssembly SIMD Gram kernel", () => {
  it("is there on this Node (else the estimators fall back to the JavaScript tiles)", () => {
    expect(gramKernel()).not.toBeNull();
  });

  // Row counts on both sides of the kernel's 256-row blocks; widths leaving every remainder of 4.
  it.each([[1, 1], [3, 2], [257, 3], [513, 4], [600, 5], [1000, 7], [300, 50]])("gives the moments of the JavaScript tiles for %i rows × %i columns", (rows, cols) => {
    const m = { data: values(rows * cols).map((v, i) => v + (i % cols)), rows, cols };
    const y = values(rows).map((v) => 3 * v + 10);
    const shift = Float64Array.from({ length: cols + 1 }, (_, j) => j * 0.9);
    const simd = simdMoments(gramKernel()!, m, y, shift);
    const scalar = scalarMoments(m, y, shift);
    const w = cols + 1;
    for (let a = 0; a < w; a++) {
      expect(simd.sums[a]).toBeCloseTo(scalar.sums[a]!, 9);
      for (let b = a; b < w; b++) {
        const scale = Math.sqrt(scalar.full[a * w + a]! * scalar.full[b * w + b]!) || 1;
        expect(Math.abs(simd.full[a * w + b]! - scalar.full[a * w + b]!) / scale).toBeLessThan(1e-13);
      }
    }
  });

  it("starts each call from zero, after a wider call grew its memory", () => {
    const wide = { data: values(40 * 300), rows: 40, cols: 300 };
    simdMoments(gramKernel()!, wide, values(40), new Float64Array(301));
    const m = { data: Float64Array.from([1, 2, 3, 4]), rows: 2, cols: 2 };
    const { full, sums } = simdMoments(gramKernel()!, m, Float64Array.from([1, 1]), new Float64Array(3));
    expect(Array.from(sums)).toEqual([4, 6, 2]);
    expect([full[0], full[1], full[2], full[4], full[5], full[8]]).toEqual([10, 14, 4, 20, 6, 2]);
  });
});

describe("the WebAssembly SIMD centre kernel", () => {
  it.each([[1, 1, 1], [5, 3, 2], [300, 7, 8], [600, 13, 9], [1000, 50, 20]])("assigns %i rows × %i features to %i centres as the JavaScript loop does, to the bit", (n, d, k) => {
    const X = { data: values(n * d), rows: n, cols: d };
    const centers = values(k * d);
    const simd = { labels: new Int32Array(n), nearest: new Float64Array(n) };
    const scalar = { labels: new Int32Array(n), nearest: new Float64Array(n) };
    const inertia = assignNearestSimd(centerDotsKernel()!, X, centers, k, simd.labels, simd.nearest);
    expect(inertia).toBe(assignNearestScalar(X, centers, k, scalar.labels, scalar.nearest));
    expect(simd).toEqual(scalar);
    // A subset of rows, repeated and out of order (mini-batches).
    const rows = Int32Array.from({ length: Math.min(n, 300) }, (_, i) => (i * 7919) % n);
    const some = { labels: new Int32Array(rows.length), nearest: new Float64Array(rows.length) };
    const someScalar = { labels: new Int32Array(rows.length), nearest: new Float64Array(rows.length) };
    assignNearestSimd(centerDotsKernel()!, X, centers, k, some.labels, some.nearest, rows);
    assignNearestScalar(X, centers, k, someScalar.labels, someScalar.nearest, rows);
    expect(some).toEqual(someScalar);
  });
});

describe("squared distances of rows to a few centres (k-means++ candidates)", () => {
  it.each([[1, 1, 1], [300, 7, 4], [700, 50, 1], [513, 13, 9]])("match the direct sums for %i rows × %i features, %i centres, all rows or some", (n, d, k) => {
    const X = { data: values(n * d), rows: n, cols: d };
    const centers = values(k * d);
    const expectClose = (got: Float64Array, rows?: Int32Array) => {
      const m = rows ? rows.length : n;
      expect(got.length).toBe(m * k);
      for (let j = 0; j < m; j++) {
        for (let c = 0; c < k; c++) {
          const want = distance2(X.data, rows ? rows[j] : j, centers, c, d);
          expect(Math.abs(got[j * k + c] - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, want));
        }
      }
    };
    expectClose(squaredDistances(X, centers, k, new Float64Array(n * k)));
    const rows = Int32Array.from({ length: Math.min(n, 200) }, (_, i) => (i * 7919) % n);
    expectClose(squaredDistances(X, centers, k, new Float64Array(rows.length * k), rows), rows);
  });
});

describe("k-means' tolerance scale", () => {
  it("is tol × the mean of the columns' variances", () => {
    const [n, d] = [301, 7];
    const X = { data: values(n * d).map((v, i) => v * (1 + (i % d))), rows: n, cols: d };
    let total = 0;
    for (let j = 0; j < d; j++) {
      let mean = 0;
      for (let r = 0; r < n; r++) mean += X.data[r * d + j];
      mean /= n;
      let variance = 0;
      for (let r = 0; r < n; r++) variance += (X.data[r * d + j] - mean) ** 2;
      total += variance / n;
    }
    expect(scaledTolerance(X, 1e-4)).toBe((1e-4 * total) / d);
  });
});

describe("Hamerly's assignment step with the SIMD kernel", () => {
  it.each([[700, 9, 11], [300, 50, 8], [40, 3, 2]])("moves the same rows and sums as without it, to the bit (%i rows × %i features, %i centres)", (n, d, k) => {
    const data = values(n * d);
    const centers = values(k * d);
    const start = () => {
      const s: RowState = { data, d, k, xNorms: new Float64Array(n), labels: new Int32Array(n), upper: new Float64Array(n).fill(Infinity), lower: new Float64Array(n) };
      for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) s.xNorms[r] += data[r * d + j] ** 2;
      for (let r = 0; r < n; r++) s.labels[r] = r % k;
      const sizes = centerStateSizes(k, d);
      const cs: CenterState = { centers: new Float64Array(sizes.centers), halfGap: new Float64Array(sizes.halfGap), cNorms: new Float64Array(sizes.cNorms), transposed: new Float64Array(sizes.transposed), loosen: new Float64Array(sizes.loosen) };
      prepareCenters(centers, k, d, cs);
      return { s, cs, sums: new Float64Array(k * d), counts: new Float64Array(k) };
    };
    const simd = start();
    const plain = start();
    assignRows(simd.s, simd.cs, 0, n, simd.sums, simd.counts, centerDotsKernel());
    assignRows(plain.s, plain.cs, 0, n, plain.sums, plain.counts, null);
    expect(simd.s).toEqual(plain.s);
    expect(simd.sums).toEqual(plain.sums);
    expect(simd.counts).toEqual(plain.counts);
  });

  it("loosens every row's bounds by the centres' shifts before it judges them", () => {
    const [n, d, k] = [400, 6, 5];
    const data = values(n * d);
    const centers = values(k * d);
    const s: RowState = { data, d, k, xNorms: new Float64Array(n), labels: new Int32Array(n), upper: new Float64Array(n).fill(Infinity), lower: new Float64Array(n) };
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) s.xNorms[r] += data[r * d + j] ** 2;
    const sizes = centerStateSizes(k, d);
    const cs: CenterState = { centers: new Float64Array(sizes.centers), halfGap: new Float64Array(sizes.halfGap), cNorms: new Float64Array(sizes.cNorms), transposed: new Float64Array(sizes.transposed), loosen: new Float64Array(sizes.loosen) };
    const sums = new Float64Array(k * d);
    const counts = new Float64Array(k);
    counts[0] = n;
    for (let r = 0; r < n; r++) for (let j = 0; j < d; j++) sums[j] += data[r * d + j];
    prepareCenters(centers, k, d, cs);
    assignRows(s, cs, 0, n, sums, counts);
    // Move the centres a little: with the shifts, every row's bounds stay true, and a second
    // assignment gives the labels of a full search.
    const moved = new Float64Array(k);
    const next = centers.map((v, i) => v + 0.05 * (((i * 31) % 7) - 3));
    for (let c = 0; c < k; c++) moved[c] = Math.sqrt(distance2(next, c, centers, c, d));
    prepareCenters(next, k, d, cs, moved);
    assignRows(s, cs, 0, n, sums, counts);
    for (let r = 0; r < n; r++) {
      const own = Math.sqrt(distance2(data, r, next, s.labels[r], d));
      expect(s.upper[r]).toBeGreaterThanOrEqual(own - 1e-9);
      for (let c = 0; c < k; c++) {
        if (c === s.labels[r]) continue;
        const other = Math.sqrt(distance2(data, r, next, c, d));
        expect(other).toBeGreaterThanOrEqual(own - 1e-9); // the nearest centre
        expect(s.lower[r]).toBeLessThanOrEqual(other + 1e-9);
      }
    }
  });
});

describe("the logistic objective with the SIMD product kernel", () => {
  it("gives the loss and gradient of the JavaScript objective, binary and multinomial, with and without intercepts", () => {
    for (const [n, k, outputs, intercept] of [[20_000, 5, 1, true], [5_000, 13, 4, false], [12_000, 7, 3, true]] as const) {
      const m = { data: values(n * k), rows: n, cols: k };
      const y = Int32Array.from({ length: n }, (_, i) => (i * 7) % Math.max(2, outputs));
      const params = values(outputs * k + (intercept ? outputs : 0)).map((v) => v * 0.3);
      const simd = new Float64Array(params.length);
      const plain = new Float64Array(params.length);
      const simdLoss = logisticObjective(m, y, outputs, intercept, 1e-3)(params, simd);
      const plainLoss = logisticObjectiveInJs(m, y, outputs, intercept, 1e-3)(params, plain);
      expect(simdLoss).toBeCloseTo(plainLoss, 12);
      for (let i = 0; i < params.length; i++) expect(simd[i]).toBeCloseTo(plain[i]!, 12);
    }
  });
});

describe("L-BFGS correction pairs", () => {
  it("keep their newest pairs when a step without enough curvature is turned away, full or not", () => {
    const n = 5;
    const step = (seed: number) => values(n).map((v) => v + seed);
    const zero = new Float64Array(n);
    const pairs = new CorrectionPairs(n, 2);
    const g = values(n);
    const before = new Float64Array(n);
    const after = new Float64Array(n);
    for (const seed of [1, 2, 3]) {
      const s = step(seed);
      pairs.add(zero, s, zero, s.map((v) => 2 * v)); // y = 2s: curvature s·y > 0, kept
    }
    expect(pairs.size).toBe(2);
    pairs.direction(g, before);
    const s = step(4);
    pairs.add(zero, s, zero, s.map((v) => -v)); // y = −s: s·y < 0, turned away
    expect(pairs.size).toBe(2);
    pairs.direction(g, after);
    expect(after).toEqual(before);
  });
});

describe("e^x in WebAssembly SIMD", () => {
  it("is within 2 ulp of Math.exp over [−708, 0], and exp(−708) below that", () => {
    const { body, emit, loopWhileBelow, next } = emitter();
    const [AT, END, X, N, R] = [0, 1, 2, 3, 4];
    loopWhileBelow(AT, END);
    emit(op.localGet(AT), op.localGet(AT), op.v128Load(0), op.localSet(X), ...expF64x2(X, N, R), op.v128Store(0));
    next(AT, [op.i32Const(16)]);
    const kernel = instantiateKernel<{ exp(at: number, end: number): void; memory: KernelMemory }>([{ name: "exp", params: 2, locals: [{ count: 3, type: V128 }], body }]);
    if (!kernel) return; // no WebAssembly SIMD here: the JavaScript objective is used
    const xs = [0, -0, -1e-300, -1e-17, -0.5 * Math.LN2, -Math.LN2, -1, -10, -2, -700, -708, -708.5, -745, -1e6, ...Array.from({ length: 20_000 }, () => -Math.random() * 708), ...Array.from({ length: 1_000 }, () => -Math.random() * 1e-3)];
    const memory = kernelMemory(kernel.memory, xs.length * 8);
    memory.set(xs);
    kernel.exp(0, xs.length * 8);
    const lowest = Math.exp(-708);
    for (let i = 0; i < xs.length; i++) {
      const expected = xs[i] < -708 ? lowest : Math.exp(xs[i]);
      expect(Math.abs(memory[i] - expected) / expected, `exp(${xs[i]})`).toBeLessThanOrEqual(2 * Number.EPSILON);
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
    new LogisticRegression().fit(X, Array.from(y, (v) => (v > 0 ? 1 : 0)));
    new Lasso({ alpha: 0.01 }).fit(X, y);
    new KMeans({ nClusters: 3, randomState: 0 }).fit(X);
    new MLPRegressor({ hiddenLayerSizes: [5], maxIter: 2, randomState: 0 }).fit(X, y);
    expect(X.data).toEqual(before);
    expect(y).toEqual(yBefore);
  });
});
