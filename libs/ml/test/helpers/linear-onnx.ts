import { expect } from "vitest";
import type { OnnxTensorMap, OnnxWorkerPool } from "@kiln/onnx";
import type { ClassLabel } from "../../src/labels.js";
import type { Estimator } from "../../src/estimator.js";
import type { Matrix } from "../../src/matrix.js";
import { loadModel } from "../../src/serialize.js";
import { asFloat32 } from "./linear-data.js";

const TOLERANCE = 1e-5;

/** Runs the ONNX export on X (float32) in onnxruntime. */
export function runOnnx(pool: OnnxWorkerPool, model: Estimator, X: Matrix): Promise<OnnxTensorMap> {
  return pool.run(model.toOnnx(), { X: { type: "float32", dims: [X.rows, X.cols], data: Float32Array.from(X.data) } });
}

/** Every value within 1e-5 relative (to max(1, |expected|)); reports the worst one. */
export function expectClose(actual: ArrayLike<number | bigint>, expected: ArrayLike<number>, what: string, tolerance = TOLERANCE): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(Number(actual[i]) - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(error <= worst)) [worst, at] = [error, i];
  }
  expect(worst, `${what}: worst error at ${at} (${actual[at]} vs ${expected[at]})`).toBeLessThanOrEqual(tolerance);
}

type Regressor = Estimator & { predict(X: Matrix): Float64Array };
type Transformer = Estimator & { transform(X: Matrix): Matrix };
type Classifier = Estimator & { classes: ClassLabel[]; predict(X: Matrix): ClassLabel[]; decisionFunction?(X: Matrix): Matrix; predictProba(X: Matrix): Matrix };

export async function expectRegressorParity(pool: OnnxWorkerPool, model: Regressor, X: Matrix): Promise<void> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  expect(out.variable.dims).toEqual([X.rows, 1]);
  expectClose(out.variable.data as Float32Array, model.predict(X32), "predictions");
}

export async function expectTransformParity(pool: OnnxWorkerPool, model: Transformer, X: Matrix): Promise<void> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  const expected = model.transform(X32);
  expect(out.variable.dims).toEqual([X.rows, expected.cols]);
  expectClose(out.variable.data as Float32Array, expected.data, "transform");
}

/**
 * ONNX "probabilities" within 1e-5 of predictProba (of the decision scores, [−d, d] for two
 * classes, when `scores`), and the same label wherever the top two classes are further apart
 * than the tolerance (closer, float32 may pick either, and must pick one of them).
 */
export async function expectClassifierParity(pool: OnnxWorkerPool, model: Classifier, X: Matrix, o: { scores?: boolean } = {}): Promise<void> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  const expected = o.scores ? scoresAsColumns(model.decisionFunction!(X32)) : model.predictProba(X32);
  const labels = model.predict(X32);
  const k = model.classes.length;
  expect(out.probabilities.dims).toEqual([X.rows, k]);
  expect(out.label.dims).toEqual([X.rows]);
  expectClose(out.probabilities.data as Float32Array, expected.data, "probabilities");
  for (let r = 0; r < X.rows; r++) {
    const onnxLabel = typeof labels[r] === "number" ? Number(out.label.data[r]) : out.label.data[r];
    const row = expected.data.subarray(r * k, (r + 1) * k);
    const top = Math.max(...row);
    const near = model.classes.filter((_, c) => row[c] >= top - TOLERANCE * Math.max(1, Math.abs(top)));
    if (near.length === 1) expect(onnxLabel, `label of row ${r}`).toBe(labels[r]);
    else expect(near, `label of row ${r}`).toContain(onnxLabel);
  }
}

function scoresAsColumns(d: Matrix): Matrix {
  if (d.cols > 1) return d;
  const data = new Float64Array(d.rows * 2);
  for (let r = 0; r < d.rows; r++) [data[2 * r], data[2 * r + 1]] = [-d.data[r], d.data[r]];
  return { data, rows: d.rows, cols: 2 };
}

/** toJSON → JSON text → loadModel: the same outputs on X, the same ONNX bytes, the same JSON. */
export function expectLosslessRoundTrip<E extends Estimator>(model: E, X: Matrix, output: (m: E, X: Matrix) => ArrayLike<unknown>): E {
  const text = JSON.stringify(model.toJSON());
  const loaded = loadModel(text) as E;
  expect(loaded.kind).toBe(model.kind);
  expect(loaded.getParams()).toEqual(model.getParams());
  expect(Array.from(output(loaded, X))).toEqual(Array.from(output(model, X)));
  expect(Buffer.from(loaded.toOnnx()).equals(Buffer.from(model.toOnnx()))).toBe(true);
  expect(JSON.stringify(loaded.toJSON())).toBe(text);
  return loaded;
}
