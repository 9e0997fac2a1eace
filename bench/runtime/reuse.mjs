// Cached outputs: a pipeline (fit an MLP, predict into an output dataset, score) run on
// embedded Kiln, against the same pipeline submitted again with reuse, whose every step
// takes the result of the run before instead of running; and the submit of a job that asks
// for reuse but finds none, against one that does not ask (what looking costs a miss).
// Prints each one's best time over rounds and the ratios.
// Usage: node bench/runtime/reuse.mjs [--rows 100000] [--rounds 3] [--submits 200]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { bestMs, bestOfRounds, countArgs, load, startKiln } from "../lib.mjs";
import { FEATURES, featureColumns } from "./rows.mjs";

const { rows, rounds, submits } = countArgs({ rows: 100_000, rounds: 3, submits: 200 });

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-reuse-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  const columns = featureColumns(rows);
  const target = Float64Array.from({ length: rows }, (_, i) => Array.from({ length: FEATURES }, (_, j) => columns[`f${j}`][i] * (j + 1)).reduce((a, b) => a + b, 0.5));
  await kiln.datasets.put("x", tableFromArrays(columns));
  await kiln.datasets.put("y", tableFromArrays({ y: target }));
  await kiln.models.create("mlp", { estimator: "MLPRegressor", params: { hidden_layer_sizes: [32], max_iter: 5, random_state: 0 } });

  let run = 0;
  const pipeline = (runtime, output) =>
    runtime.sequence([
      (rt) => rt.model("mlp:1").fit("x", "y"),
      (rt) => rt.model("mlp").predict("x", { output }),
      (rt) => rt.model("mlp").score("x", "y"),
    ]);
  const finish = async (handles) => {
    for (const h of handles) await h.get();
    return Promise.all(handles.map((h) => h.info()));
  };

  // Each round without reuse runs everything (into its own output, so nothing is appended to a bigger one).
  const ran = await bestMs(rounds, async () => {
    const infos = await finish(await pipeline(kiln.runtime, `out-${run++}`));
    if (infos.some((i) => i.reusedFrom)) throw new Error("a job without reuse reused");
  });
  await finish(await pipeline(kiln.runtime.reusing(), "reused-out"));
  const reused = await bestMs(rounds, async () => {
    const infos = await finish(await pipeline(kiln.runtime.reusing(), "reused-out"));
    if (infos.some((i) => !i.reusedFrom)) throw new Error("a step of the pipeline ran again");
  });

  // A miss: predicts of data no job predicted before, each its own dataset, submitted to a
  // label no executor has (so the submits alone are timed), with and without reuse in turn.
  const datasets = async (prefix) => {
    const names = Array.from({ length: submits }, (_, i) => `${prefix}-${i}`);
    for (const [i, name] of names.entries()) await kiln.datasets.put(name, tableFromArrays(Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, c.slice(i, i + 64)]))));
    return names;
  };
  const { best, keep, lower } = bestOfRounds();
  for (let r = 0; r < rounds; r++) {
    for (const reuse of r % 2 ? [true, false] : [false, true]) {
      const names = await datasets(`s${r}-${reuse}`);
      const { p50 } = await load(submits, 8, (i) => kiln.runtime.model("mlp:2").predict(names[i], { reuse, labels: ["bench-nowhere"] }));
      keep(reuse ? "looking" : "plain", p50, lower);
    }
  }
  const { looking, plain } = best;

  console.log(`pipeline of ${rows.toLocaleString("en")} rows (fit MLP, predict into a dataset, score), best of ${rounds}:`);
  console.log(`  ran:     ${(ran / 1000).toFixed(2)} s`);
  console.log(`  reused:  ${(reused / 1000).toFixed(3)} s`);
  console.log(`  ran / reused: ${(ran / reused).toFixed(1)}x`);
  console.log(`submit of a job finding nothing to reuse, ${submits} at 8 in flight, best p50 of ${rounds}: ${looking.toFixed(2)} ms vs ${plain.toFixed(2)} ms without reuse (${(looking / plain).toFixed(2)})`);
} finally {
  kiln.close();
  child.kill();
  await rm(dir, { recursive: true, force: true });
}
