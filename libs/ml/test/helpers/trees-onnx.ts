import { expect } from "vitest";
import type { OnnxTensorMap, OnnxWorkerPool } from "@kiln/onnx";
import type { Classifier, Clusterer, Estimator, Regressor } from "../../src/estimator.js";
import type { Matrix } from "../../src/matrix.js";
import { loadModel } from "../../src/serialize.js";
import { asFloat32 } from "./trees-data.js";

const TOLERANCE = 1e-5;

// Exporting a large forest takes a while; the tests run each model's bytes on several inputs.
const exported = new WeakMap<Estimator, Uint8Array>();

/** Runs the estimator's ONNX export on X (as float32) in onnxruntime. */
export async function runOnnx(pool: OnnxWorkerPool, estimator: Estimator, X: Matrix): Promise<OnnxTensorMap> {
  const bytes = exported.get(estimator) ?? estimator.toOnnx();
  exported.set(estimator, bytes);
  return pool.run(bytes, { X: { type: "float32", dims: [X.rows, X.cols], data: Float32Array.from(X.data) } });
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(Number(actual[i]) - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(error <= worst)) [worst, at] = [error, i];
  }
  expect(worst, `${what}: worst relative error at ${at} (${actual[at]} vs ${expected[at]})`).toBeLessThanOrEqual(TOLERANCE);
}

/**
 * ONNX probabilities within 1e-5 of predictProba, and the same label wherever the two most likely
 * classes are further apart than that (closer, float32 rounding may pick either; it must pick one of them).
 */
export async function expectClassifierOnnxMatches(pool: OnnxWorkerPool, model: Classifier, X: Matrix): Promise<{ agreed: number }> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  const proba = model.predictProba(X32);
  const labels = model.predict(X32);
  const k = model.classes.length;
  expect(out.probabilities.dims).toEqual([X.rows, k]);
  expect(out.label.dims).toEqual([X.rows]);
  expectClose(out.probabilities.data as Float32Array, proba.data, "probabilities");
  let agreed = 0;
  for (let r = 0; r < X.rows; r++) {
    const onnxLabel = typeof labels[r] === "number" ? Number(out.label.data[r]) : out.label.data[r];
    const row = proba.data.subarray(r * k, (r + 1) * k);
    const top = Math.max(...row);
    const near = model.classes.filter((_, c) => row[c] >= top - TOLERANCE);
    if (near.length === 1) expect(onnxLabel, `row ${r}`).toBe(labels[r]);
    else expect(near, `row ${r}`).toContain(onnxLabel);
    if (onnxLabel === labels[r]) agreed++;
  }
  return { agreed };
}

export async function expectRegressorOnnxMatches(pool: OnnxWorkerPool, model: Regressor, X: Matrix): Promise<void> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  expect(out.variable.dims).toEqual([X.rows, 1]);
  expectClose(out.variable.data as Float32Array, model.predict(X32), "predictions");
}

/** toJSON → JSON text → loadModel gives the same predictions and the same ONNX bytes. */
export function expectRoundTrip(model: Estimator & { predict(X: Matrix): ArrayLike<unknown> }, X: Matrix): Estimator {
  const text = JSON.stringify(model.toJSON());
  const loaded = loadModel(text) as Estimator & { predict(X: Matrix): ArrayLike<unknown> };
  expect(loaded.kind).toBe(model.kind);
  expect(Array.from(loaded.predict(X))).toEqual(Array.from(model.predict(X)));
  expect(Buffer.from(loaded.toOnnx()).equals(Buffer.from(model.toOnnx()))).toBe(true);
  expect(JSON.stringify(loaded.toJSON())).toBe(text);
  return loaded;
}

export type AnyModel = Classifier | Regressor | Clusterer;

/** ONNX "scores" within 1e-5 of transform (distances), "label" = predict wherever the two nearest centres are further apart than that. */
export async function expectClustererOnnxMatches(pool: OnnxWorkerPool, model: Clusterer, X: Matrix): Promise<void> {
  const X32 = asFloat32(X);
  const out = await runOnnx(pool, model, X32);
  const distances = model.transform(X32);
  const labels = model.predict(X32);
  const k = distances.cols;
  expect(Object.keys(out).sort()).toEqual(["label", "scores"]);
  expect(out.scores.dims).toEqual([X.rows, k]);
  expect(out.label).toMatchObject({ type: "int64", dims: [X.rows] });
  expectClose(out.scores.data as Float32Array, distances.data, "distances");
  for (let r = 0; r < X.rows; r++) {
    const row = Array.from(distances.data.subarray(r * k, (r + 1) * k));
    const nearest = Math.min(...row);
    const ties = row.flatMap((v, c) => (v <= nearest + TOLERANCE * Math.max(1, nearest) ? [c] : []));
    const onnxLabel = Number(out.label.data[r]);
    if (ties.length === 1) expect(onnxLabel, `row ${r}`).toBe(labels[r]);
    else expect(ties, `row ${r}`).toContain(onnxLabel);
  }
}
