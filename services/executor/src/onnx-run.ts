import { OnnxPoolError, type OnnxFeeds, type OnnxTensorData, type OnnxTensorMap } from "@kiln/onnx";
import type { ExecutorDeps } from "./deps.js";
import type { MatrixInput } from "./feature-matrix.js";

/**
 * Runs a model in the worker pool by its key (the sha256 of its bytes), handing over the bytes the
 * first time and whenever the pool has let the model go.
 */
export async function runOnnx(deps: ExecutorDeps, file: Uint8Array, key: string, feeds: OnnxFeeds, outputs: string[]): Promise<OnnxTensorMap> {
  try {
    return await deps.onnx.run(key, feeds, outputs);
  } catch (e) {
    if (!(e instanceof OnnxPoolError) || !/not loaded/.test(e.message)) throw e;
    return deps.onnx.run(file, feeds, outputs);
  }
}

/** `count` rows ([count, features], row-major) as the model's matrix input, in shared memory so they cross to the ONNX worker without another copy. */
export function matrixFeed(input: MatrixInput, rows: Float64Array | Float32Array, count: number): OnnxTensorData {
  const inPlace = rows.buffer instanceof SharedArrayBuffer && (input.type === "float32" ? rows instanceof Float32Array : rows instanceof Float64Array);
  const data = inPlace ? rows : sharedRows(input.type, rows.length);
  if (!inPlace) data.set(rows);
  return { type: input.type, dims: [count, input.features.length], data } as OnnxTensorData;
}

export function sharedRows(type: MatrixInput["type"], length: number): Float32Array | Float64Array {
  return type === "float32" ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float64Array(new SharedArrayBuffer(length * 8));
}

/** A tensor output as float64 numbers; undefined for strings and 64-bit integers. */
export function outputNumbers(out: OnnxTensorData): Float64Array | undefined {
  if (Array.isArray(out.data) || out.data instanceof BigInt64Array || out.data instanceof BigUint64Array) return undefined;
  return out.data instanceof Float64Array ? out.data : Float64Array.from(out.data as ArrayLike<number>);
}
