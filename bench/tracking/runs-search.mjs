// Searching runs when they logged many points: MLflow's runs/search of an experiment (each
// run's latest metrics and params, sorted by one) and Kiln's SummarizeRuns, which read the
// summaries the event store keeps per run and key, against the pass over every metric event
// they made before (QueryEvents of event = "metric", what a search cost was bound by), in the
// same run. Each run logs 4 metrics over --steps steps (Kiln's columnar batches, as the SDK
// sends) and 5 params (MLflow's log-batch). Best of --rounds each.
// Usage: node bench/tracking/runs-search.mjs [--runs 100] [--steps 2500] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { arg, mlflowPost, startKiln, timed } from "../lib.mjs";

const runs = Number(arg("runs", "100"));
const steps = Number(arg("steps", "2500"));
const rounds = Number(arg("rounds", "3"));
const KEYS = ["loss", "accuracy", "lr", "grad_norm"];
const PER_BATCH = 10_000;

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-runs-search-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);
try {
  const client = createClient(TrackingService, createGrpcTransport({ baseUrl: server.url }));
  const { experiment_id: experimentId } = await post("experiments/create", { name: "bench-runs-search" });
  const parent = `projects/default/experiments/${experimentId}`;
  const now = Date.now();
  const points = steps * KEYS.length;
  for (let r = 0; r < runs; r++) {
    const { run } = await post("runs/create", { experiment_id: experimentId, start_time: now + r });
    await post("runs/log-batch", { run_id: run.info.run_id, params: Array.from({ length: 5 }, (_, i) => ({ key: `p${i}`, value: String(r * i) })) });
    const runName = `${parent}/runs/${run.info.run_id.slice(run.info.run_id.lastIndexOf("-r") + 2)}`;
    for (let at = 0; at < points; at += PER_BATCH) {
      const n = Math.min(points, at + PER_BATCH) - at;
      const columns = {
        strings: ["metric", "", ...KEYS],
        event: new Array(n).fill(0),
        key: Array.from({ length: n }, (_, k) => 2 + ((at + k) % KEYS.length)),
        node: new Array(n).fill(1),
        step: Array.from({ length: n }, (_, k) => Math.floor((at + k) / KEYS.length)),
        dt: Array.from({ length: n }, (_, k) => now + at + k),
        valueType: new Array(n).fill(1),
        number: Array.from({ length: n }, (_, k) => Math.cos(r + at + k)),
      };
      await client.appendEvents({ batches: [{ run: runName, batchId: `r${r}-${at}`, columns }] });
    }
  }

  const best = async (fn) => {
    let seconds = Infinity;
    for (let i = 0; i < rounds; i++) seconds = Math.min(seconds, (await timed(fn)).seconds);
    return seconds;
  };
  const search = await best(async () => {
    let found = 0;
    let token;
    do {
      const page = await post("runs/search", { experiment_ids: [experimentId], max_results: 1000, order_by: ["metrics.accuracy DESC"], ...(token && { page_token: token }) });
      found += page.runs.length;
      if (page.runs[0].data.metrics.length !== KEYS.length || page.runs[0].data.params.length !== 5) throw new Error("a run came back without its metrics and params");
      token = page.next_page_token;
    } while (token);
    if (found !== runs) throw new Error(`search found ${found} runs of ${runs}`);
  });
  const summarize = await best(() => client.summarizeRuns({ parent, runs: "all" }));
  const pass = await best(async () => {
    let rows = 0;
    for await (const page of client.queryEvents({ parent, runs: "all", filter: 'event = "metric"' })) rows += Number(page.rowCount);
    if (rows !== runs * points) throw new Error(`read ${rows} metric events, logged ${runs * points}`);
  });

  const ms = (s) => `${(s * 1000).toFixed(0)} ms`;
  console.log(`best of ${rounds}; ${runs} runs × (${points.toLocaleString("en")} metric points, 5 params): ${(runs * (points + 5)).toLocaleString("en")} events`);
  console.log(`MLflow runs/search (all runs, by metrics.accuracy)   ${ms(search)}`);
  console.log(`Kiln SummarizeRuns                                   ${ms(summarize)}`);
  console.log(`a pass over every metric event (QueryEvents)         ${ms(pass)}`);
  console.log(`ratio runs/search time / pass time: ${(search / pass).toFixed(3)}; SummarizeRuns / pass: ${(summarize / pass).toFixed(3)}`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
