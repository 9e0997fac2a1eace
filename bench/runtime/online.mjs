// Online predict: latency and throughput of a deployment (kiln.deployments.predict, client →
// scheduler → bus request/reply → the executor serving it) against onnxruntime-node running the
// same model's ONNX in this process.
// Each request is --rows R rows (default 1). Measured, per round:
//   onnxruntime in this process: N session.run calls of R rows one after another: p50/p99 per
//     call, and requests/s (the fair baseline for throughput: the requests run one by one here);
//   Kiln sequential: N predicts one after another: client-observed p50/p99;
//   Kiln under load: N predicts with C in flight at once (C loops sharing one client): requests/s
//     and p50/p99 under that load (the executor batches requests that arrive while its run slots
//     are busy, services/executor/src/online-batching.ts).
// Prints the best round of --rounds of each measurement (the lowest p50; under load the highest
// requests/s) and the ratios: Kiln p50 / onnxruntime p50 (and the overhead in ms), Kiln
// throughput / onnxruntime sequential throughput. Every answer of the loaded run and a few
// sequential ones are checked against onnxruntime's predictions here (throws if they differ).
// For reference it also prints onnxruntime running all N requests' rows in one call (what
// batching could at best reach; not a baseline), and the transport's floor: a unary call the
// scheduler answers at once (the inference protocol's ServerLive) on the SDK's connection,
// sequential and under the same load, with Kiln's ratios to it.
// --executor process runs the deployment on an executor process of its own over a real
// nats-server (the embedded server keeps the store, registry and scheduler), as predict.mjs does.
// Profile with BENCH_SERVER_NODE_ARGS / BENCH_EXECUTOR_NODE_ARGS (see ../lib.mjs).
// Usage: node bench/runtime/online.mjs [--model linear|mlp|forest] [--requests 2000] [--rows 1]
//          [--concurrency 32] [--executor embedded|process] [--rounds 3] [--warmup 50]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { Kiln } from "@kiln/sdk";
import { createClient } from "@connectrpc/connect";
import { GRPCInferenceService } from "@kiln/proto/inference/grpc_predict_v2_pb";
import { startNatsServer } from "@kiln/bus/testing";
import { arg, percentile, cpuSeconds, startExecutor, startKiln, countArgs } from "../lib.mjs";
import { FEATURES, featureColumns, fittedModel } from "./rows.mjs";

const modelKind = arg("model", "linear");
const { requests, rows, concurrency, rounds } = countArgs({ requests: 2000, rows: 1, concurrency: 32, rounds: 3 });
const executorKind = arg("executor", "embedded");
const warmup = Number(arg("warmup", "50"));
if (!["embedded", "process"].includes(executorKind)) throw new Error("--executor is embedded or process");

// Distinct requests (up to 256 of them, reused in turn): request i is rows [i*R, (i+1)*R).
const DISTINCT = Math.min(requests, 256);
const columns = featureColumns(Math.max(1000, DISTINCT * rows));
const model = fittedModel(modelKind, columns);
const inputs = Array.from({ length: DISTINCT }, (_, i) => {
  const slice = Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, c.slice(i * rows, (i + 1) * rows)]));
  const matrix = new Float32Array(rows * FEATURES);
  for (let r = 0; r < rows; r++) for (let j = 0; j < FEATURES; j++) matrix[r * FEATURES + j] = slice[`f${j}`][r];
  return { table: tableFromArrays(slice), tensor: new Tensor("float32", matrix, [rows, FEATURES]) };
});

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));
const now = () => process.hrtime.bigint();
const msSince = (start) => Number(process.hrtime.bigint() - start) / 1e6;

/** Runs `call(i)` for i < requests, `inFlight` at once; the latencies (sorted) and requests/s. */
async function load(inFlight, call) {
  const ms = new Array(requests);
  let next = 0;
  const start = now();
  const loop = async () => {
    for (let i = next++; i < requests; i = next++) {
      const t = now();
      await call(i);
      ms[i] = msSince(t);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, requests) }, loop));
  const seconds = msSince(start) / 1000;
  ms.sort((a, b) => a - b);
  return { p50: percentile(ms, 50), p99: percentile(ms, 99), perSecond: requests / seconds };
}

/** The prediction column of a Kiln answer against onnxruntime's in this process. */
function check(i, table, expected) {
  if (table.numRows !== rows) throw new Error(`request ${i}: got ${table.numRows} rows back, expected ${rows}`);
  const got = table.getChild("prediction");
  if (!got) throw new Error(`request ${i}: no "prediction" column in ${table.schema.fields.map((f) => f.name).join(", ")}`);
  for (let r = 0; r < rows; r++) {
    const a = Number(got.get(r));
    const b = expected[r];
    if (!(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)))) throw new Error(`request ${i} row ${r}: Kiln predicted ${a}, onnxruntime ${b}`);
  }
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-online-"));
let nats, kilnProc, executor, kiln;
try {
  nats = executorKind === "process" ? await startNatsServer({ storeDir: join(dir, "nats") }) : undefined;
  const bus = nats ? { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_EMBEDDED_EXECUTOR: "false" } : {};
  kilnProc = await startKiln({ ...bus, KILN_DATA_DIR: join(dir, "kiln") });
  executor = nats ? await startExecutor({ ...bus, KILN_URL: kilnProc.url, KILN_EXECUTOR_ID: "bench" }) : undefined;

  // The baseline: the same model's ONNX in a session of this process.
  const session = await InferenceSession.create(model.toOnnx());
  const outputName = session.outputNames[0];
  const expected = [];
  for (const { tensor } of inputs) expected.push(Float64Array.from((await session.run({ X: tensor }))[outputName].data));
  const allRows = new Float32Array(requests * rows * FEATURES);
  for (let i = 0; i < requests; i++) allRows.set(inputs[i % DISTINCT].tensor.data, i * rows * FEATURES);
  const allTensor = new Tensor("float32", allRows, [requests * rows, FEATURES]);

  kiln = await Kiln.connect(kilnProc.url);
  await kiln.models.put(`bench-${modelKind}`, model);
  const created = performance.now();
  await kiln.deployments.create("bench", { model: `bench-${modelKind}` });
  const readyMs = performance.now() - created;
  const predict = (i) => kiln.deployments.predict("bench", inputs[i % DISTINCT].table);
  // The transport's floor: a unary call the scheduler answers at once (the inference protocol's ServerLive), on the SDK's own connection.
  const oip = createClient(GRPCInferenceService, kiln.transport);
  const live = () => oip.serverLive({});
  for (let i = 0; i < warmup; i++) check(i, await predict(i), expected[i % DISTINCT]);
  for (let i = 0; i < DISTINCT; i++) await session.run({ X: inputs[i].tensor });

  const best = {};
  const keep = (name, run, better = (a, b) => a.p50 < b.p50) => {
    if (!best[name] || better(run, best[name])) best[name] = run;
  };
  const cpu = { server: 0, executor: 0, client: 0 };
  for (let round = 1; round <= rounds; round++) {
    // A pause before each run: onnxruntime's threads spin for a while after one, and the server collects garbage.
    await settle();
    keep("ortSeq", await load(1, (i) => session.run({ X: inputs[i % DISTINCT].tensor })));
    await settle();
    const t = now();
    await session.run({ X: allTensor });
    keep("ortAll", { ms: msSince(t) }, (a, b) => a.ms < b.ms);
    await settle();
    keep("rpcSeq", await load(1, live));
    await settle();
    keep("rpcLoad", await load(concurrency, live), (a, b) => a.perSecond > b.perSecond);
    await settle();
    keep("kilnSeq", await load(1, async (i) => {
      const table = await predict(i);
      if (i < 20) check(i, table, expected[i % DISTINCT]);
    }));
    await settle();
    const before = { server: cpuSeconds(kilnProc.pid), executor: executor ? cpuSeconds(executor.pid) : 0, client: process.cpuUsage() };
    const loaded = await load(concurrency, async (i) => check(i, await predict(i), expected[i % DISTINCT]));
    const used = process.cpuUsage(before.client);
    const roundCpu = {
      server: cpuSeconds(kilnProc.pid) - before.server,
      executor: executor ? cpuSeconds(executor.pid) - before.executor : 0,
      client: (used.user + used.system) / 1e6,
    };
    keep("kilnLoad", { ...loaded, cpu: roundCpu }, (a, b) => a.perSecond > b.perSecond);
  }

  const f = (ms) => `${ms.toFixed(3)} ms`.padStart(10);
  const rps = (n) => `${Math.round(n).toLocaleString("en-US")} req/s`.padStart(14);
  const { ortSeq, ortAll, kilnSeq, kilnLoad, rpcSeq, rpcLoad } = best;
  const where = executorKind === "process" ? "an executor process on a real nats-server" : "the embedded executor";
  console.log(`best of ${rounds} rounds; ${requests} requests of ${rows} row${rows === 1 ? "" : "s"} × ${FEATURES} features, ${modelKind} model, ${where}; deployment READY after ${readyMs.toFixed(0)} ms; ${warmup} warm-up predicts`);
  console.log(`${"".padEnd(44)}${"p50".padStart(10)}  ${"p99".padStart(10)}  ${"throughput".padStart(14)}`);
  console.log(`${"onnxruntime in-process, sequential".padEnd(44)}${f(ortSeq.p50)}  ${f(ortSeq.p99)}  ${rps(ortSeq.perSecond)}`);
  console.log(`${"kiln deployment, sequential".padEnd(44)}${f(kilnSeq.p50)}  ${f(kilnSeq.p99)}  ${rps(kilnSeq.perSecond)}`);
  console.log(`${`kiln deployment, ${concurrency} in flight`.padEnd(44)}${f(kilnLoad.p50)}  ${f(kilnLoad.p99)}  ${rps(kilnLoad.perSecond)}`);
  console.log(`${"(floor) a unary RPC, sequential".padEnd(44)}${f(rpcSeq.p50)}  ${f(rpcSeq.p99)}  ${rps(rpcSeq.perSecond)}`);
  console.log(`${`(floor) a unary RPC, ${concurrency} in flight`.padEnd(44)}${f(rpcLoad.p50)}  ${f(rpcLoad.p99)}  ${rps(rpcLoad.perSecond)}`);
  console.log(`${"(ref) onnxruntime, all rows in one call".padEnd(44)}${"".padStart(10)}  ${"".padStart(10)}  ${rps(requests / (ortAll.ms / 1000))}`);
  console.log(`latency ratio kiln / onnxruntime (p50, sequential): ${(kilnSeq.p50 / ortSeq.p50).toFixed(1)}x, overhead ${(kilnSeq.p50 - ortSeq.p50).toFixed(3)} ms a request`);
  console.log(`throughput ratio kiln (${concurrency} in flight) / onnxruntime sequential: ${(kilnLoad.perSecond / ortSeq.perSecond).toFixed(3)}`);
  console.log(`latency ratio kiln / a unary RPC (p50, sequential): ${(kilnSeq.p50 / rpcSeq.p50).toFixed(2)}x; throughput ${(kilnLoad.perSecond / rpcLoad.perSecond).toFixed(2)}x the RPC's under the same load`);
  console.log(`throughput ratio kiln (${concurrency} in flight) / kiln sequential: ${(kilnLoad.perSecond / kilnSeq.perSecond).toFixed(2)}`);
  const perRequest = (s) => `${((s * 1e6) / requests).toFixed(0)} µs`;
  console.log(
    `CPU a request under load: server ${perRequest(kilnLoad.cpu.server)}` +
      (executor ? `, executor process ${perRequest(kilnLoad.cpu.executor)}` : "") +
      `, client ${perRequest(kilnLoad.cpu.client)}`,
  );
  console.log(`answers checked against onnxruntime in this process: all ${requests} under load and the first 20 sequential each round, ${warmup} warm-up`);
  // The executor's counts reach the scheduler with its next heartbeat.
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  const { stats } = await kiln.deployments.get("bench");
  console.log(`the deployment answered ${stats.requests.toLocaleString("en-US")} requests in ${stats.runs.toLocaleString("en-US")} model runs (${(stats.requests / Math.max(1, stats.runs)).toFixed(2)} requests a run, all rounds and warm-up)`);
  await kiln.deployments.delete("bench");
} finally {
  kiln?.close();
  executor?.kill("SIGTERM");
  kilnProc?.child.kill("SIGTERM");
  await nats?.stop();
  await rm(dir, { recursive: true, force: true });
}
