// Child process entry: waits for a model file's path on stdin (so it can start, and load
// onnxruntime, while the upload is still arriving), then parses the file, loads it in
// onnxruntime and reports on stdout.
import { rm } from "node:fs/promises";
import { InferenceSession } from "onnxruntime-node";
import { OnnxFormatError } from "./errors.js";
import { inspectOnnx } from "./inspect.js";
import { writeOnnxSkeleton } from "./skeleton.js";

let input = "";
for await (const piece of process.stdin) input += piece;
const path = input.trim();
if (path) {
  const skeletonPath = `${path}.skeleton.onnx`;
  try {
    const summary = inspectOnnx(await writeOnnxSkeleton(path, skeletonPath));
    // Loading is the check: no weight prepacking or graph rewrites, which only pay off
    // for a session that then runs (they took 40% of the load of a 100 MB model).
    const session = await InferenceSession.create(skeletonPath, {
      intraOpNumThreads: 1,
      graphOptimizationLevel: "disabled",
      extra: { session: { disable_prepacking: "1" } },
    });
    await session.release();
    process.stdout.write(JSON.stringify({ ok: true, summary }));
  } catch (e) {
    const stage = e instanceof OnnxFormatError ? "parse" : "load";
    process.stdout.write(JSON.stringify({ ok: false, stage, message: (e as Error).message ?? String(e) }));
  } finally {
    await rm(skeletonPath, { force: true });
  }
}
