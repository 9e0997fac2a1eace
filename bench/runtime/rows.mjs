// The rows the runtime benches predict, and the models they predict them with.
import { tableFromArrays } from "apache-arrow";
import { Tensor } from "onnxruntime-node";
import { LinearRegression, MLPRegressor, RandomForestRegressor } from "@kiln/ml";

export const FEATURES = 4;

/** `rows` rows of FEATURES float64 columns f0, f1, … (sines, so every value differs). */
export function featureColumns(rows) {
  const columns = {};
  for (let j = 0; j < FEATURES; j++) columns[`f${j}`] = Float64Array.from({ length: rows }, (_, i) => Math.sin(i * (j + 1)));
  return columns;
}

const ESTIMATORS = {
  linear: () => new LinearRegression(),
  mlp: () => new MLPRegressor({ hiddenLayerSizes: [64, 64], maxIter: 20, randomState: 0 }),
  forest: () => new RandomForestRegressor({ nEstimators: 100, maxDepth: 8, randomState: 0 }),
};
export const MODEL_KINDS = Object.keys(ESTIMATORS);

/** A model of the given kind fitted to the first 1,000 rows of `columns` (a linear target). */
export function fittedModel(kind, columns) {
  if (!ESTIMATORS[kind]) throw new Error(`the model is one of ${MODEL_KINDS.join(", ")}`);
  const training = Array.from({ length: 1000 }, (_, i) => Array.from({ length: FEATURES }, (_, j) => columns[`f${j}`][i]));
  const target = training.map((r) => r.reduce((a, b, j) => a + b * (j + 1), 0.5));
  return ESTIMATORS[kind]().fit(training, target);
}

/** The columns as onnxruntime's [rows, FEATURES] float32 input, laid out beforehand. */
export function inputTensor(columns) {
  const rows = columns.f0.length;
  const matrix = new Float32Array(rows * FEATURES);
  for (let i = 0; i < rows; i++) for (let j = 0; j < FEATURES; j++) matrix[i * FEATURES + j] = columns[`f${j}`][i];
  return new Tensor("float32", matrix, [rows, FEATURES]);
}

/** One-row tables of the columns' first `n` rows: the requests of the online benchmarks. */
export function oneRowTables(columns, n = 256) {
  return Array.from({ length: n }, (_, i) => tableFromArrays(Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, c.slice(i, i + 1)]))));
}

/** A table of `rows` rows of 8 float64 columns, for read and write throughput. */
export function wideTable(rows) {
  return tableFromArrays(Object.fromEntries(Array.from({ length: 8 }, (_, j) => [`c${j}`, Float64Array.from({ length: rows }, (_, i) => Math.sin(i * (j + 1)))])));
}

/** MB/s of reading a dataset's stored chunks as they come (no Arrow decoding). */
export async function rawReadMBps(kiln, dataset) {
  const t = performance.now();
  const { chunks } = await kiln.datasets.readRaw(dataset);
  let bytes = 0;
  for await (const c of chunks) bytes += c.byteLength;
  return bytes / 1e6 / ((performance.now() - t) / 1000);
}
