// Tracking throughput: 1,000,000 metric points logged through the SDK (buffered batches in
// the background) against the same points sent as requests of 1,000 metrics each, one after
// another (MLflow's log-batch limit), in the same run. Then a query of all the points with a
// key filter, and the server's peak RSS.
// Usage: node bench/tracking/tracking.mjs [--points 1000000]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { Kiln } from "@kiln/sdk";
import { arg, peakRssMiB, startKiln, timed } from "../lib.mjs";

const points = Number(arg("points", "1000000"));
const KEYS = ["loss", "accuracy", "lr", "grad_norm"];

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-tracking-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(server.url);

  const sdk = await timed(async () => {
    await kiln.experiment("bench-sdk").run(async (run) => {
      for (let i = 0; i < points; i++) {
        run.logMetric(KEYS[i % KEYS.length], Math.sin(i), { step: Math.floor(i / KEYS.length) });
        if (i % 10_000 === 9_999) await new Promise((r) => setImmediate(r)); // a training loop yields now and then
      }
    });
  });

  const client = createClient(TrackingService, createGrpcTransport({ baseUrl: server.url }));
  const { run } = await client.startRun({ parent: "projects/default/experiments/bench-batches", createExperiment: true });
  const batches = await timed(async () => {
    const now = { seconds: BigInt(Math.floor(Date.now() / 1000)), nanos: 0 };
    for (let at = 0; at < points; at += 1000) {
      const events = [];
      for (let i = at; i < Math.min(points, at + 1000); i++) {
        events.push({ id: `b-${i}`, event: "metric", key: KEYS[i % KEYS.length], step: BigInt(Math.floor(i / KEYS.length)), dt: now, value: { case: "number", value: Math.sin(i) } });
      }
      await client.logEvents((async function* () { yield { run: run.name, events }; })());
    }
  });

  let rows = 0;
  const query = await timed(async () => {
    const table = await kiln.experiment("bench-sdk").dataTable({ key: "loss" });
    rows = table.numRows;
  });
  const all = await timed(async () => {
    const table = await kiln.experiment("bench-sdk").dataTable({ event: "metric" });
    if (table.numRows !== points) throw new Error(`read ${table.numRows} points back, logged ${points}`);
  });

  const rate = (n, s) => `${Math.round(n / s).toLocaleString("en")} /s`;
  console.log(`${points.toLocaleString("en")} metric points`);
  console.log(`SDK (background batches)         ${sdk.seconds.toFixed(2)} s   ${rate(points, sdk.seconds)}`);
  console.log(`requests of 1,000, one at a time  ${batches.seconds.toFixed(2)} s   ${rate(points, batches.seconds)}`);
  console.log(`ratio SDK / requests of 1,000: ${(batches.seconds / sdk.seconds).toFixed(2)}   (targets: >= 200,000 points/s and >= 5x)`);
  console.log(`query key = "loss": ${rows.toLocaleString("en")} rows in ${query.seconds.toFixed(2)} s (${rate(rows, query.seconds)}); all ${points.toLocaleString("en")} metrics in ${all.seconds.toFixed(2)} s (${rate(points, all.seconds)})`);
  console.log(`server peak RSS: ${peakRssMiB(server.pid).toFixed(0)} MiB (target <= 256)`);
  kiln.close();
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
