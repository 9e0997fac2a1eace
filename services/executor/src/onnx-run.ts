import { OnnxPoolError, type OnnxFeeds, type OnnxTensorMap } from "@kiln/onnx";
import type { ExecutorDeps } from "./deps.js";

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
