// Child process entry: waits for the model file on stdin (so it can start, and load
// onnxruntime, while the upload is still arriving), then parses the file, loads it in
// onnxruntime and reports on stdout.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { InferenceSession } from "onnxruntime-node";
import { OnnxFormatError } from "./errors.js";
import { inspectOnnx } from "./inspect.js";
import type { CheckInput } from "./check-process.js";
import { writeOnnxSkeleton, writeOnnxSkeletonOfParts } from "./skeleton.js";

let input = "";
for await (const piece of process.stdin) input += piece;
if (input.trim()) {
  const file = JSON.parse(input) as CheckInput;
  const scratch = "parts" in file ? join(file.workDir, randomUUID()) : file.path;
  const skeletonPath = `${scratch}.skeleton.onnx`;
  const weightsPath = `${scratch}.weights`;
  try {
    const skeleton = "parts" in file ? await writeOnnxSkeletonOfParts(file.parts, skeletonPath, weightsPath) : await writeOnnxSkeleton(file.path, skeletonPath);
    const summary = inspectOnnx(skeleton);
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
    if ("parts" in file) await rm(weightsPath, { force: true });
  }
}
