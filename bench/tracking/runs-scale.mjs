// MLflow's runs/search in an experiment of many runs (a sweep's worth), the way MLflow's
// client and UI ask: the first page of 100, newest first, filtered by a param or a metric,
// and ordered by a metric; against the same searches in an experiment of one run, in the
// same run, so the ratio is what the experiment's size costs over a search's fixed cost.
// Each run logs 3 metrics, 3 params and a tag (MLflow's log-batch). Best of --rounds.
// "2 experiments" searches the experiment with another of one run beside it (MLflow's UI
// comparing experiments, search_runs with several ids), newest first or by a metric.
// Then the runs read one by one as the UI opens them (runs/get, metrics/get-history, 4 in
// flight), against experiments/get, which reads no events, as the baseline. Last, Kiln's
// SummarizeRuns (exp.summary) of the newest 100 runs, as the console's experiment page
// asks, against the same of the experiment of one run; and the best 10 runs by a metric from
// Kiln's SearchRuns, against every run's summary (SummarizeRuns) sorted in the client.
// Usage: node bench/tracking/runs-scale.mjs [--runs 20000] [--rounds 5]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { bestMs, countArgs, load, mlflowPost, startKiln } from "../lib.mjs";

const { runs, rounds } = countArgs({ runs: 20_000, rounds: 5 });
const IN_FLIGHT = 8;
const MODELS = ["xgb", "rf", "lr", "mlp"];

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-runs-scale-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);

async function logRuns(experimentId, n) {
  const start = Date.now();
  return load(n, IN_FLIGHT, async (i) => {
    const { run } = await post("runs/create", { experiment_id: experimentId, start_time: start + i });
    await post("runs/log-batch", {
      run_id: run.info.run_id,
      metrics: [
        { key: "accuracy", value: (i * 7919) % 10_007 / 10_007, timestamp: start, step: 0 },
        { key: "loss", value: 1 / (1 + i), timestamp: start, step: 0 },
        { key: "seconds", value: i % 97, timestamp: start, step: 0 },
      ],
      params: [
        { key: "model", value: MODELS[i % MODELS.length] },
        { key: "depth", value: String(i % 12) },
        { key: "lr", value: String(0.001 * (1 + (i % 10))) },
      ],
      tags: [{ key: "sweep", value: `s${i % 50}` }],
    });
  });
}

/** The searches, each with the count its first page must hold in an experiment of n runs. */
const searches = (n) => [
  { name: "newest first", body: {}, expected: Math.min(100, n) },
  { name: "params.model = 'xgb'", body: { filter: "params.model = 'xgb'" }, expected: Math.min(100, Math.ceil(n / 4)) },
  { name: "metrics.accuracy > 0.9", body: { filter: "metrics.accuracy > 0.9" }, expected: undefined },
  { name: "tags.sweep = 's7'", body: { filter: "tags.sweep = 's7'" }, expected: Math.min(100, Math.floor((n - 8) / 50) + 1) },
  { name: "by metrics.accuracy DESC", body: { order_by: ["metrics.accuracy DESC"] }, expected: Math.min(100, n) },
  { name: "oldest first", body: { order_by: ["attributes.start_time ASC"] }, expected: Math.min(100, n) },
  { name: "newest first, 2 experiments", body: {}, beside: true, expected: Math.min(100, n + 1) },
  { name: "by accuracy DESC, 2 experiments", body: { order_by: ["metrics.accuracy DESC"] }, beside: true, expected: Math.min(100, n + 1) },
];

/** GETs of MLflow's API, `inFlight` at a time: calls per second. */
async function rateOf(paths) {
  const get = async (path) => {
    const res = await fetch(new URL(`/api/2.0/mlflow/${path}`, server.url));
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    await res.json();
  };
  let best = 0;
  for (let round = 0; round < rounds; round++) best = Math.max(best, (await load(paths.length, 4, (i) => get(paths[i]))).perSecond);
  return best;
}

async function timeSearches(experimentId, n, beside) {
  const times = [];
  for (const s of searches(n)) {
    times.push(
      await bestMs(rounds, async () => {
        const page = await post("runs/search", { experiment_ids: s.beside ? [experimentId, beside] : [experimentId], max_results: 100, ...s.body });
        if (s.expected !== undefined && page.runs.length !== s.expected) throw new Error(`${s.name}: ${page.runs.length} runs, not ${s.expected}`);
      }),
    );
  }
  return times;
}

try {
  const { experiment_id: big } = await post("experiments/create", { name: "bench-runs-scale" });
  const logged = await logRuns(big, runs);
  const { experiment_id: one } = await post("experiments/create", { name: "bench-runs-scale-one" });
  await logRuns(one, 1);
  const { experiment_id: other } = await post("experiments/create", { name: "bench-runs-scale-other" });
  await logRuns(other, 1);
  const large = await timeSearches(big, runs, other);
  const small = await timeSearches(one, 1, other);
  const page = (await post("runs/search", { experiment_ids: [big], max_results: 500 })).runs.map((r) => r.info.run_id);
  const reads = 2_000;
  const runGets = await rateOf(Array.from({ length: reads }, (_, i) => `runs/get?run_id=${page[i % page.length]}`));
  const histories = await rateOf(Array.from({ length: reads }, (_, i) => `metrics/get-history?run_id=${page[i % page.length]}&metric_key=accuracy`));
  const experimentGets = await rateOf(Array.from({ length: reads }, () => `experiments/get?experiment_id=${big}`));
  const kiln = await Kiln.connect(server.url);
  const newest = { from: Math.max(1, runs - 99), to: runs };
  const summaryLarge = await bestMs(rounds, async () => {
    if ((await kiln.experiment(big).summary(newest)).length !== newest.to - newest.from + 1) throw new Error("summary: not the newest runs");
  });
  const summarySmall = await bestMs(rounds, () => kiln.experiment(one).summary({ from: 1, to: 1 }));
  // The best 10 runs by a metric: Kiln's SearchRuns against every run summarized and sorted here (what the SDK offered before it).
  const bestOf = (summaries) => summaries.sort((a, b) => b.metrics.accuracy.last - a.metrics.accuracy.last || b.run - a.run).slice(0, 10).map((s) => s.run);
  let searched;
  let sortedHere;
  const bestSearched = await bestMs(rounds, async () => (searched = (await kiln.experiment(big).search({ orderBy: ["metrics.accuracy DESC"], limit: 10 })).map((s) => s.run)));
  const bestSorted = await bestMs(rounds, async () => (sortedHere = bestOf(await kiln.experiment(big).summary())));
  if (JSON.stringify(searched) !== JSON.stringify(sortedHere)) throw new Error(`SearchRuns found ${searched}, the sorted summaries ${sortedHere}`);
  console.log(`${runs.toLocaleString("en")} runs logged (runs/create + runs/log-batch): ${Math.round(logged.perSecond).toLocaleString("en")} runs/s, ${IN_FLIGHT} in flight`);
  console.log(`runs/search, first page of 100, best of ${rounds}: ${runs.toLocaleString("en")} runs vs 1 run (ratio)`);
  searches(runs).forEach((s, i) => console.log(`  ${s.name.padEnd(32)} ${large[i].toFixed(1).padStart(8)} ms  ${small[i].toFixed(1).padStart(6)} ms  ${(large[i] / small[i]).toFixed(1).padStart(7)}`));
  const rate = (n) => `${Math.round(n).toLocaleString("en")} /s`;
  console.log(`one by one, 4 in flight, best of ${rounds}: runs/get ${rate(runGets)}, metrics/get-history ${rate(histories)}, experiments/get (baseline) ${rate(experimentGets)}`);
  console.log(`ratio to experiments/get: runs/get ${(runGets / experimentGets).toFixed(2)}, metrics/get-history ${(histories / experimentGets).toFixed(2)}`);
  console.log(`SummarizeRuns of the newest 100 runs: ${summaryLarge.toFixed(1)} ms of ${runs.toLocaleString("en")} runs vs ${summarySmall.toFixed(1)} ms of 1 run (ratio ${(summaryLarge / summarySmall).toFixed(1)})`);
  console.log(`the best 10 runs by accuracy: SearchRuns ${bestSearched.toFixed(1)} ms vs every run's summary sorted in the client ${bestSorted.toFixed(1)} ms (ratio ${(bestSearched / bestSorted).toFixed(3)})`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
