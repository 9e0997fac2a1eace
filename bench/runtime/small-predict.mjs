// Small predicts, OmegaML's everyday call: `await (await model.predict(rows)).get()` on a few
// local rows, one after another, against the same predict on a stored dataset of those rows
// (no data travels with the job) and against a bare unary call to the same server (GetJob,
// what one round trip costs here). Prints p50/p99 of each and the ratios.
// Local rows of up to KILN_INLINE_INPUT_BYTES (the SDK's; 0 turns it off) travel in the submit
// itself; bigger ones are uploaded as a temporary dataset first.
// Usage: node bench/runtime/small-predict.mjs [--rows 10] [--calls 300] [--warmup 50]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, percentile, startKiln } from "../lib.mjs";
import { FEATURES, featureColumns, fittedModel } from "./rows.mjs";

const rows = Number(arg("rows", "10"));
const calls = Number(arg("calls", "300"));
const warmup = Number(arg("warmup", "50"));


async function latencies(fn) {
  for (let i = 0; i < warmup; i++) await fn();
  const ms = [];
  for (let i = 0; i < calls; i++) {
    const start = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return ms.sort((a, b) => a - b);
}

const columns = featureColumns(rows);
const local = Array.from({ length: rows }, (_, i) => Array.from({ length: FEATURES }, (_, j) => columns[`f${j}`][i]));
const dir = await mkdtemp(join(tmpdir(), "kiln-bench-small-"));
const kilnProc = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(kilnProc.url);
  await kiln.models.put("small", fittedModel("linear", featureColumns(1000)));
  await kiln.datasets.put("small-rows", Object.fromEntries(local[0].map((_, j) => [`x${j}`, Float64Array.from(local, (r) => r[j])])));
  const model = kiln.runtime.model("small");
  const someJob = (await model.predict("small-rows")).name;
  await kiln.runtime.job(someJob).get();

  const check = (table) => {
    if (table.numRows !== rows) throw new Error(`got ${table.numRows} rows back, expected ${rows}`);
  };
  const unary = await latencies(() => kiln.runtime.job(someJob).info());
  const stored = await latencies(async () => check(await (await model.predict("small-rows")).get()));
  const withData = await latencies(async () => check(await (await model.predict(local)).get()));

  const line = (label, ms) => `${label.padEnd(40)} p50 ${percentile(ms, 50).toFixed(2)} ms  p99 ${percentile(ms, 99).toFixed(2)} ms`;
  console.log(`${calls} calls each after ${warmup} untimed; ${rows} rows × ${FEATURES} features, linear model, the embedded executor`);
  console.log(line("bare unary call (GetJob)", unary));
  console.log(line("predict on a stored dataset", stored));
  console.log(line("predict on local rows", withData));
  const p50 = (ms) => percentile(ms, 50);
  console.log(`ratio local rows / stored dataset (p50): ${(p50(withData) / p50(stored)).toFixed(2)}`);
  console.log(`ratio local rows / bare unary call (p50): ${(p50(withData) / p50(unary)).toFixed(1)}`);
  kiln.close();
} finally {
  kilnProc.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
