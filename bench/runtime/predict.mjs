// Remote predict: N rows (default 1,000,000) through a small model as a runtime job, the
// predictions streamed back to this client, against onnxruntime-node run in this process
// on the same rows. Prints both times, rows/s and the ratio (in-process time / Kiln time).
// --model picks the model: linear (the default; onnxruntime needs ~20 ms for the million rows,
// so the ratio measures Kiln's data path), or mlp (64-64 hidden units) and forest (100 trees
// of depth 8), whose compute is a larger share of the whole.
// --executor process runs the job on an executor process of its own, on NATS JetStream (the
// embedded server keeps the store, registry and scheduler), instead of the embedded executor;
// add --direct-blobs to let it read chunks straight from the server's data folder
// (KILN_EXECUTOR_DIRECT_BLOBS) rather than over HTTP.
// Kiln's executor runs models in pieces of 8,192 rows (intermediate tensors that fit the CPU's
// caches made the MLP ~2x faster per row), so the same pieces through onnxruntime in this process
// are timed too: the ratio against them is what Kiln's data path costs beyond the model.
// Usage: node bench/runtime/predict.mjs [--rows 1000000] [--rounds 3] [--model linear|mlp|forest] [--executor embedded|process [--direct-blobs]]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { Kiln } from "@kiln/sdk";
import { startNatsServer } from "@kiln/bus/testing";
import { arg, startExecutor, startKiln, timed } from "../lib.mjs";
import { FEATURES, featureColumns, fittedModel, inputTensor } from "./rows.mjs";

const rows = Number(arg("rows", "1000000"));
const rounds = Number(arg("rounds", "3"));
const modelKind = arg("model", "linear");
const executorKind = arg("executor", "embedded");
if (!["embedded", "process"].includes(executorKind)) throw new Error("--executor is embedded or process");

const columns = featureColumns(rows);
const model = fittedModel(modelKind, columns);

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-predict-"));
const nats = executorKind === "process" ? await startNatsServer({ storeDir: join(dir, "nats") }) : undefined;
const bus = nats ? { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_EMBEDDED_EXECUTOR: "false" } : {};
const kilnProc = await startKiln({ ...bus, KILN_DATA_DIR: join(dir, "kiln") });
const directBlobs = process.argv.includes("--direct-blobs") ? { KILN_EXECUTOR_DIRECT_BLOBS: "true", KILN_DATA_DIR: join(dir, "kiln") } : {};
const executor = nats ? await startExecutor({ ...bus, ...directBlobs, KILN_URL: kilnProc.url, KILN_EXECUTOR_ID: "bench" }) : undefined;
try {
  const kiln = await Kiln.connect(kilnProc.url);
  await kiln.datasets.put("bench-rows", tableFromArrays(columns));
  await kiln.models.put(`bench-${modelKind}`, model);

  // The baseline: the same model and rows, one onnxruntime call in this process (float32 matrix built beforehand).
  const session = await InferenceSession.create(model.toOnnx());
  const input = inputTensor(columns);
  const PIECE_ROWS = 8192;
  const pieces = [];
  for (let at = 0; at < rows; at += PIECE_ROWS) {
    const to = Math.min(rows, at + PIECE_ROWS);
    pieces.push(new Tensor("float32", input.data.subarray(at * FEATURES, to * FEATURES), [to - at, FEATURES]));
  }
  const runPieces = async () => {
    for (const piece of pieces) await session.run({ X: piece });
  };

  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
  let best = { kiln: Infinity, direct: Infinity, inPieces: Infinity, firstChunk: Infinity };
  for (let round = 1; round <= rounds; round++) {
    // A pause before each run: onnxruntime's threads spin for a while after one, and the server collects garbage after a job.
    await settle();
    const direct = await timed(() => session.run({ X: input }));
    await settle();
    const inPieces = await timed(runPieces);
    await settle();
    const started = process.hrtime.bigint();
    const remote = await timed(async () => {
      const job = await kiln.runtime.model(`bench-${modelKind}`).predict("bench-rows");
      let n = 0;
      let first;
      for await (const chunk of job.results()) {
        first ??= Number(process.hrtime.bigint() - started) / 1e6;
        n += chunk.numRows;
      }
      if (n !== rows) throw new Error(`got ${n} rows back, expected ${rows}`);
      return first;
    });
    best = {
      kiln: Math.min(best.kiln, remote.seconds),
      direct: Math.min(best.direct, direct.seconds),
      inPieces: Math.min(best.inPieces, inPieces.seconds),
      firstChunk: Math.min(best.firstChunk, remote.result),
    };
  }
  const rate = (s) => `${((rows / s) / 1e6).toFixed(2)} M rows/s`;
  console.log(`best of ${rounds} rounds; ${rows} rows × ${FEATURES} features, ${modelKind} model, ${executorKind === "process" ? `an executor process on NATS JetStream${directBlobs.KILN_DATA_DIR ? " reading blobs directly" : ""}` : "the embedded executor"}`);
  console.log(`kiln remote predict (streamed back)  ${best.kiln.toFixed(3)} s  ${rate(best.kiln)}; first chunk back after ${best.firstChunk.toFixed(0)} ms`);
  console.log(`onnxruntime in-process               ${best.direct.toFixed(3)} s  ${rate(best.direct)}`);
  console.log(`onnxruntime in-process, ${PIECE_ROWS} rows a call ${best.inPieces.toFixed(3)} s  ${rate(best.inPieces)}`);
  console.log(`ratio in-process / kiln: ${(best.direct / best.kiln).toFixed(3)} (target >= 0.8)`);
  console.log(`ratio in-process in pieces / kiln: ${(best.inPieces / best.kiln).toFixed(3)} (onnxruntime called in the pieces Kiln uses)`);
  kiln.close();
} finally {
  executor?.kill("SIGTERM");
  kilnProc.child.kill("SIGTERM");
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
}
