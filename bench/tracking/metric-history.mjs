// A long metric history: one run logs --points points of "loss" (a training loop's every
// step), then its history is read whole through the SDK (GetMetricHistory in pages of
// 250,000), sampled to 1,000 points to draw (max_points), and a page of 1,000 through MLflow's
// get-history, against the same points streamed as the run's event table (QueryEvents of
// key = "loss", what reads them without ordering or paging), in the same run; and the same
// events as omega-ml's rows (exp.data()). Best of --rounds.
// Usage: node bench/tracking/metric-history.mjs [--points 1000000] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, bestMs, startKiln } from "../lib.mjs";

const points = Number(arg("points", "1000000"));
const rounds = Number(arg("rounds", "3"));

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-metric-history-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(server.url);
  const exp = kiln.experiment("bench-history");
  await exp.run((run) => {
    for (let step = 0; step < points; step++) run.logMetric("loss", 1 / (1 + step / 1000) + (step % 997 === 0 ? 1 : 0), { step });
  });
  const { experiment } = await (await fetch(`${server.url}/api/2.0/mlflow/experiments/get-by-name?experiment_name=bench-history`)).json();
  const search = await fetch(`${server.url}/api/2.0/mlflow/runs/search`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ experiment_ids: [experiment.experiment_id], max_results: 1 }) });
  const runId = (await search.json()).runs[0].info.run_id;

  const expect = (n, what) => (got) => {
    if (got !== n) throw new Error(`${what}: ${got} points, expected ${n}`);
  };
  const table = await bestMs(rounds, async () => expect(points, "event table")((await exp.dataTable({ run: 1, key: "loss" })).numRows));
  const rows = await bestMs(rounds, async () => expect(points, "rows")((await exp.data({ run: 1, key: "loss" })).length));
  const whole = await bestMs(rounds, async () => expect(points, "history")((await exp.history("loss", 1)).length));
  const drawn = await bestMs(rounds, async () => expect(1000, "sample")((await exp.history("loss", 1, { maxPoints: 1000 })).length));
  const mlflowPage = await bestMs(rounds, async () => {
    const res = await fetch(`${server.url}/api/2.0/mlflow/metrics/get-history?run_id=${runId}&metric_key=loss&max_results=1000`);
    expect(1000, "get-history")((await res.json()).metrics.length);
  });
  console.log(`one run, ${points} points of one metric; best of ${rounds}`);
  console.log(`the run's event table of them (QueryEvents) ${table.toFixed(0)} ms`);
  console.log(`the same as rows, exp.data() ${rows.toFixed(0)} ms, ratio table / rows ${(table / rows).toFixed(2)}`);
  console.log(`history, every point in step order (SDK) ${whole.toFixed(0)} ms, ratio table / history ${(table / whole).toFixed(2)}`);
  console.log(`history sampled to 1,000 points to draw ${drawn.toFixed(0)} ms, ratio table / sample ${(table / drawn).toFixed(2)}`);
  console.log(`MLflow get-history, a page of 1,000 ${mlflowPage.toFixed(0)} ms, ratio table / page ${(table / mlflowPage).toFixed(2)}`);
} finally {
  server.child.kill();
  await rm(dir, { recursive: true, force: true });
}
