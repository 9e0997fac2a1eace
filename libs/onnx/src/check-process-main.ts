// Child process entry: waits for the model file on stdin (so it can start, and load
// onnxruntime, while the upload is still arriving), then parses the file, loads it in
// onnxruntime and reports on stdout, one line.
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { InferenceSession } from "onnxruntime-node";
import type { CheckInput } from "./check-process.js";
import { OnnxFormatError } from "./errors.js";
import { linearRegressorOnnx } from "./examples.js";
import { inspectOnnx } from "./inspect.js";
import { writeOnnxSkeleton, writeOnnxSkeletonOfParts } from "./skeleton.js";

// Loading is the check: no weight prepacking or graph rewrites, which only pay off
// for a session that then runs (they took 40% of the load of a 100 MB model).
const LOAD_OPTIONS: InferenceSession.SessionOptions = {
  intraOpNumThreads: 1,
  graphOptimizationLevel: "disabled",
  extra: { session: { disable_prepacking: "1" } },
};

// onnxruntime sets itself up on its first session (20–30 ms): done while the upload runs.
await (await InferenceSession.create(linearRegressorOnnx([1], 0), LOAD_OPTIONS)).release();

let input = "";
for await (const piece of process.stdin) input += piece;
if (input.trim()) {
  const file = JSON.parse(input) as CheckInput;
  const scratch = "parts" in file ? join(file.workDir, randomUUID()) : file.path;
  const skeletonPath = `${scratch}.skeleton.onnx`;
  const weightsPath = `${scratch}.weights`;
  let report: object;
  try {
    const skeleton = "parts" in file ? await writeOnnxSkeletonOfParts(file.parts, skeletonPath, weightsPath) : await writeOnnxSkeleton(file.path, skeletonPath);
    const summary = inspectOnnx(skeleton);
    const session = await InferenceSession.create(skeletonPath, LOAD_OPTIONS);
    await session.release();
    report = { ok: true, summary };
  } catch (e) {
    const stage = e instanceof OnnxFormatError ? "parse" : "load";
    report = { ok: false, stage, message: (e as Error).message ?? String(e) };
  } finally {
    await rm(skeletonPath, { force: true });
    if ("parts" in file) await rm(weightsPath, { force: true });
  }
  // One line: the parent takes it as the answer without waiting for this process to exit.
  process.stdout.write(`${JSON.stringify(report)}\n`);
}
