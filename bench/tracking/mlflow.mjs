// MLflow's REST API against Kiln's own tracking API on the same server, in the same run:
// 1. metric points logged by MLflow's log-batch (JSON, 1,000 metrics a request, MLflow's
//    limit) against the same points in Kiln's columnar batches of 1,000 (what the SDK
//    sends, over gRPC), one request at a time each;
// 2. MLflow's runs/search of an experiment (each run's latest metrics and params) against
//    Kiln's SummarizeRuns of it (each run's last/min/max metrics and params).
// Usage: node bench/tracking/mlflow.mjs [--points 200000] [--runs 200]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { arg, mlflowPost, startKiln, timed } from "../lib.mjs";

const points = Number(arg("points", "200000"));
const runs = Number(arg("runs", "200"));
const KEYS = ["loss", "accuracy", "lr", "grad_norm"];
const PER_REQUEST = 1000;

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-mlflow-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);
try {
  const client = createClient(TrackingService, createGrpcTransport({ baseUrl: server.url }));
  const now = Date.now();
  const point = (i) => ({ key: KEYS[i % KEYS.length], value: Math.sin(i), step: Math.floor(i / KEYS.length), timestamp: now + i });

  const { experiment_id: experimentId } = await post("experiments/create", { name: "bench-mlflow-log" });
  const { run } = await post("runs/create", { experiment_id: experimentId, start_time: now });
  const mlflow = await timed(async () => {
    for (let at = 0; at < points; at += PER_REQUEST) {
      const metrics = [];
      for (let i = at; i < Math.min(points, at + PER_REQUEST); i++) metrics.push(point(i));
      await post("runs/log-batch", { run_id: run.info.run_id, metrics });
    }
  });

  const started = await client.startRun({ parent: "projects/default/experiments/bench-kiln-log", createExperiment: true });
  const kiln = await timed(async () => {
    for (let at = 0, batch = 0; at < points; at += PER_REQUEST, batch++) {
      const n = Math.min(points, at + PER_REQUEST) - at;
      const p = Array.from({ length: n }, (_, k) => point(at + k));
      const columns = {
        strings: ["metric", "", ...KEYS],
        event: new Array(n).fill(0),
        key: p.map((x) => 2 + KEYS.indexOf(x.key)),
        node: new Array(n).fill(1),
        step: p.map((x) => x.step),
        dt: p.map((x) => x.timestamp),
        valueType: new Array(n).fill(1),
        number: p.map((x) => x.value),
      };
      await client.appendEvents({ batches: [{ run: started.run.name, batchId: `bench-${batch}`, columns }] });
    }
  });

  // An experiment of `runs` runs, each with 4 metrics over 100 steps and 5 params.
  const { experiment_id: searched } = await post("experiments/create", { name: "bench-mlflow-search" });
  for (let r = 0; r < runs; r++) {
    const { run: each } = await post("runs/create", { experiment_id: searched, start_time: now + r });
    const metrics = Array.from({ length: 400 }, (_, i) => ({ key: KEYS[i % 4], value: Math.cos(r + i), step: Math.floor(i / 4), timestamp: now + i }));
    const params = Array.from({ length: 5 }, (_, i) => ({ key: `p${i}`, value: String(r * i) }));
    await post("runs/log-batch", { run_id: each.info.run_id, metrics, params });
  }
  let found = 0;
  const search = await timed(async () => {
    let token;
    do {
      const page = await post("runs/search", { experiment_ids: [searched], max_results: 1000, order_by: ["metrics.accuracy DESC"], ...(token && { page_token: token }) });
      found += page.runs.length;
      token = page.next_page_token;
    } while (token);
  });
  if (found !== runs) throw new Error(`search found ${found} runs of ${runs}`);
  const summarize = await timed(() => client.summarizeRuns({ parent: `projects/default/experiments/${searched}`, runs: "all" }));

  const rate = (n, s) => `${Math.round(n / s).toLocaleString("en")} /s`;
  console.log(`${points.toLocaleString("en")} metric points, ${PER_REQUEST} a request, one request at a time`);
  console.log(`MLflow log-batch (JSON)   ${mlflow.seconds.toFixed(2)} s   ${rate(points, mlflow.seconds)}`);
  console.log(`Kiln's columns (gRPC)     ${kiln.seconds.toFixed(2)} s   ${rate(points, kiln.seconds)}`);
  console.log(`ratio Kiln time / MLflow time: ${(kiln.seconds / mlflow.seconds).toFixed(2)}`);
  console.log(`${runs} runs of 400 metric points and 5 params (${(runs * 405).toLocaleString("en")} events)`);
  console.log(`MLflow runs/search        ${(search.seconds * 1000).toFixed(0)} ms`);
  console.log(`Kiln SummarizeRuns        ${(summarize.seconds * 1000).toFixed(0)} ms`);
  console.log(`ratio Kiln time / MLflow time: ${(summarize.seconds / search.seconds).toFixed(2)}`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
