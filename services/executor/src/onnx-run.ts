import { OnnxPoolError, type OnnxFeeds, type OnnxTensorMap } from "@kiln/onnx";
import type { ExecutorDeps } from "./deps.js";

/**
 * Runs a model in the worker pool by its key (its sha256), handing over the bytes the
 * first time and whenever the pool has let the model go.
 */
export async function runOnnx(deps: ExecutorDeps, file: Uint8Array, sha256: string, feeds: OnnxFeeds, outputs: string[]): Promise<OnnxTensorMap> {
  try {
    return await deps.onnx.run(sha256, feeds, outputs);
  } catch (e) {
    if (!(e instanceof OnnxPoolError) || !/not loaded/.test(e.message)) throw e;
    return deps.onnx.run(file, feeds, outputs);
  }
}
