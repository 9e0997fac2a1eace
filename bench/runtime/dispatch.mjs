// Dispatch: N no-op jobs through the runtime, on NATS JetStream with two executors and on
// the in-process bus (embedded, one executor with the same slots in total). Prints jobs/s
// (first submit to last job end) and submit→start latency (the job's start_time minus its
// create_time, both stamped by the scheduler) at p50/p99.
// Three phases per bus: throughput with N jobs submitted by submitMany (one SubmitJobs call
// per thousand, so the queue fills and latency includes queueing); throughput with one
// SubmitJob per job from `concurrency` clients at once; then latency alone (jobs submitted
// one after another by one client, the queue empty). Before them, `warmup` jobs run untimed,
// as timeit warms up: the first thousands of jobs through a fresh process measure V8
// compiling the code (a fresh server ran 1,390 jobs/s, the same one warm 1,830).
// Usage: node bench/runtime/dispatch.mjs [--jobs 10000] [--concurrency 64] [--slots 8] [--latency-jobs 500] [--warmup 3000]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer } from "@kiln/bus/testing";
import { Kiln } from "@kiln/sdk";
import { arg, percentile, cpuSeconds, startExecutor, startKiln } from "../lib.mjs";

const jobs = Number(arg("jobs", "10000"));
const concurrency = Number(arg("concurrency", "64"));
const slots = Number(arg("slots", "8"));
const latencyJobs = Number(arg("latency-jobs", "500"));
const warmupJobs = Number(arg("warmup", "3000"));


async function submitBatched(kiln, count) {
  return (await kiln.runtime.submitMany(Array.from({ length: count }, () => ({ kind: "noop" })))).map((h) => h.name);
}

async function submitAll(kiln, count, parallel) {
  const names = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        names.push((await kiln.runtime.noop()).name);
      }
    }),
  );
  return names;
}

/** Waits for the jobs: the last ones submitted first (a queue drains in order), then any straggler. */
async function drained(kiln, names) {
  for (const name of names.slice(-concurrency)) await kiln.runtime.job(name).wait().catch(() => {});
  for (const name of names) {
    const info = await kiln.runtime.job(name).info();
    if (info.state === "queued" || info.state === "running") await kiln.runtime.job(name).wait();
  }
}

/** submit→start of the newest `count` jobs, sorted, and when the last of them ended. */
async function latencies(kiln, count) {
  const all = await kiln.runtime.jobs({ limit: count });
  return {
    lastEnd: Math.max(...all.map((j) => j.endTime?.getTime() ?? 0)),
    sorted: all.filter((j) => j.startTime).map((j) => j.startTime.getTime() - j.createTime.getTime()).sort((a, b) => a - b),
    failed: all.filter((j) => j.state !== "succeeded").length,
  };
}

/** CPU seconds so far of each named process (this one included). */
function cpuOf(processes) {
  const own = process.cpuUsage();
  return { ...Object.fromEntries(Object.entries(processes).map(([name, pid]) => [name, cpuSeconds(pid)])), client: (own.user + own.system) / 1e6 };
}

/**
 * Submits `jobs` jobs, waits for all of them; jobs/s from first submit to last end, submit→start
 * under load, and the CPU each process spent until the last job ended (per 1,000 jobs).
 */
async function throughput(kiln, submit, processes) {
  const cpuBefore = cpuOf(processes);
  const started = Date.now();
  const names = await submit();
  const submitted = Date.now();
  await kiln.runtime.job(names.at(-1)).wait().catch(() => {});
  const cpuAfter = cpuOf(processes);
  await drained(kiln, names);
  const loaded = await latencies(kiln, jobs);
  const cpu = Object.fromEntries(Object.keys(cpuAfter).map((name) => [name, ((cpuAfter[name] - cpuBefore[name]) * 1000 * 1000) / jobs]));
  return { rate: jobs / ((loaded.lastEnd - started) / 1000), submits: jobs / ((submitted - started) / 1000), loaded, cpu };
}

async function run(label, kiln, processes) {
  const p = (l, q) => `${percentile(l.sorted, q)} ms`;
  const line = (how, t) =>
    `  ${how.padEnd(30)} ${t.rate.toFixed(0).padStart(5)} jobs/s (submits ${t.submits.toFixed(0)}/s)   submit→start, queue full: p50 ${p(t.loaded, 50)} p99 ${p(t.loaded, 99)}\n` +
    `  ${"".padEnd(30)} CPU ms per 1,000 jobs: ${Object.entries(t.cpu).map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(", ")}`;
  if (warmupJobs > 0) await drained(kiln, await submitBatched(kiln, warmupJobs));
  const batched = await throughput(kiln, () => submitBatched(kiln, jobs), processes);
  const single = await throughput(kiln, () => submitAll(kiln, jobs, concurrency), processes);
  await drained(kiln, await submitAll(kiln, latencyJobs, 1));
  const idle = await latencies(kiln, latencyJobs);
  const failed = batched.loaded.failed + single.loaded.failed + idle.failed;
  console.log(`${label}: ${jobs} no-op jobs${failed ? `   (${failed} did not succeed!)` : ""}`);
  console.log(line("submitMany (1,000 per call)", batched));
  console.log(line(`SubmitJob each, ${concurrency} clients`, single));
  console.log(`  one at a time (queue empty)    submit→start p50 ${p(idle, 50)} p99 ${p(idle, 99)}`);
  return batched.rate;
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-dispatch-"));
const nats = await startNatsServer({ storeDir: join(dir, "nats") });
const children = [];
try {
  // In-process bus: everything in one process, one executor with all the slots.
  const memory = await startKiln({ KILN_DATA_DIR: join(dir, "memory"), KILN_EXECUTOR_SLOTS: String(slots * 2) });
  children.push(memory.child);
  const memoryKiln = await Kiln.connect(memory.url);
  const memoryRate = await run("In-process bus, 1 executor", memoryKiln, { server: memory.child.pid });
  memoryKiln.close();
  memory.child.kill("SIGTERM");

  // JetStream: the embedded server on NATS with its executor, plus a second executor process.
  const bus = { KILN_BUS: "nats", KILN_NATS_URL: nats.url };
  const server = await startKiln({ ...bus, KILN_DATA_DIR: join(dir, "nats-kiln"), KILN_EXECUTOR_SLOTS: String(slots) });
  children.push(server.child);
  const second = await startExecutor({ ...bus, KILN_URL: server.url, KILN_EXECUTOR_ID: "second", KILN_EXECUTOR_SLOTS: String(slots) });
  children.push(second);
  const kiln = await Kiln.connect(server.url);
  const natsRate = await run("JetStream, 2 executors", kiln, { "server (scheduler + executor)": server.child.pid, "second executor": second.pid, "nats-server": nats.pid });
  kiln.close();
  console.log(`ratio JetStream / in-process (submitMany): ${(natsRate / memoryRate).toFixed(2)}   (target: >= 2000 jobs/s and p50 <= 2 ms)`);
} finally {
  for (const child of children) child.kill("SIGTERM");
  await nats.stop();
  await rm(dir, { recursive: true, force: true });
}
