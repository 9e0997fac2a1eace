// Many jobs kept: N finished no-op jobs on an embedded server, then what still has to be
// quick: listing the queued and running jobs (`kiln jobs --state running`), against the
// newest page of all jobs (the baseline: a read of 100 records), listing the jobs of a model
// whose 5 predicts came before them all (`kiln jobs --model m`), the 5 jobs that required an
// executor label (`kiln jobs --label gpu`), and a restart, against a
// restart on an empty data dir. Then a purge of them all (PurgeJobs, force), in jobs/s.
// Usage: node bench/runtime/many-jobs.mjs [--jobs 100000]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { linearRegressorOnnx } from "@kiln/onnx";
import { arg, bestMs, startKiln } from "../lib.mjs";

const jobs = Number(arg("jobs", "100000"));
const BATCH = 10_000;

async function stopped(server) {
  server.child.kill("SIGTERM");
  await new Promise((resolve) => server.child.once("exit", resolve));
}

/** Milliseconds from spawning a server on `dir` to its listening. */
async function restart(dir) {
  const t = performance.now();
  const server = await startKiln({ KILN_DATA_DIR: dir });
  const ms = performance.now() - t;
  await stopped(server);
  return ms;
}

const root = await mkdtemp(join(tmpdir(), "kiln-many-jobs-"));
const dir = join(root, "data");
try {
  let server = await startKiln({ KILN_DATA_DIR: dir, KILN_EXECUTOR_SLOTS: "16", KILN_EXECUTOR_LABELS: "gpu" });
  let kiln = await Kiln.connect(server.url);
  await kiln.datasets.put("x", [{ a: 1, b: 2 }]);
  await kiln.models.put("m", linearRegressorOnnx([1, 2], 0.5));
  for (let i = 0; i < 5; i++) await (await kiln.runtime.model("m").predict("x")).get();
  for (let i = 0; i < 5; i++) await (await kiln.runtime.require({ labels: ["gpu"] }).noop()).wait();
  const started = performance.now();
  for (let done = 0; done < jobs; done += BATCH) {
    const handles = await kiln.runtime.submitMany(Array.from({ length: Math.min(BATCH, jobs - done) }, () => ({ kind: "noop" })));
    await handles.at(-1).wait();
    process.stderr.write(`\r${(done + handles.length).toLocaleString("en-US")} jobs run`);
  }
  process.stderr.write("\n");
  console.log(`${jobs.toLocaleString("en-US")} no-op jobs run in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const open = await bestMs(5, () => kiln.runtime.jobs({ states: ["queued", "running"] }));
  const newest = await bestMs(5, () => kiln.runtime.jobs({ limit: 100 }));
  const ofModel = await bestMs(5, () => kiln.runtime.jobs({ model: "m" }));
  const ofLabel = await bestMs(5, () => kiln.runtime.jobs({ label: "gpu" }));
  console.log(
    `list queued and running: ${open.toFixed(1)} ms   a model's 5 jobs: ${ofModel.toFixed(1)} ms   a label's 5 jobs: ${ofLabel.toFixed(1)} ms   newest 100 of all: ${newest.toFixed(1)} ms   ratios ${[open, ofModel, ofLabel].map((ms) => (ms / newest).toFixed(2)).join(", ")}`,
  );
  kiln.close();
  await stopped(server);

  const full = Math.min(await restart(dir), await restart(dir));
  const empty = Math.min(await restart(join(root, "empty")), await restart(join(root, "empty")));
  console.log(`restart to listening: ${full.toFixed(0)} ms with the jobs   ${empty.toFixed(0)} ms on an empty data dir   ratio ${(full / empty).toFixed(2)}`);

  server = await startKiln({ KILN_DATA_DIR: dir });
  kiln = await Kiln.connect(server.url);
  const t = performance.now();
  const { count } = await kiln.runtime.purgeJobs({ endedBefore: new Date() });
  const purgeMs = performance.now() - t;
  console.log(`purge: ${count.toLocaleString("en-US")} jobs in ${(purgeMs / 1000).toFixed(1)} s (${Math.round(count / (purgeMs / 1000)).toLocaleString("en-US")} jobs/s)`);
  kiln.close();
  await stopped(server);
} finally {
  await rm(root, { recursive: true, force: true });
}
