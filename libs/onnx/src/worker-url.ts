/** The compiled worker script beside this module in dist/. */
export function defaultWorkerUrl(): URL {
  // Under vitest this module runs from src/*.ts, and a worker thread cannot run TypeScript, so use tsc's build in dist/.
  return import.meta.url.endsWith(".ts") ? new URL("../dist/onnx-worker.js", import.meta.url) : new URL("./onnx-worker.js", import.meta.url);
}
