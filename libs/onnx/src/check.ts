import { OnnxWorkerPool } from "./pool.js";

/**
 * Resolves if onnxruntime can load the model, rejects with OnnxFormatError (onnxruntime's reason) if not.
 * Without a pool it starts a one-worker pool for the call, which costs a thread start and a runtime load.
 */
export async function checkOnnxLoads(bytes: Uint8Array, pool?: OnnxWorkerPool): Promise<void> {
  if (pool) return pool.check(bytes);
  const own = new OnnxWorkerPool({ size: 1, cacheSize: 1 });
  try {
    await own.check(bytes);
  } finally {
    await own.close();
  }
}
