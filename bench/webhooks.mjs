// Webhooks: what delivering every job's end to a URL costs, and how soon it arrives. The
// same N no-op jobs run through an embedded server without a webhook, with one on an event
// they do not make (the events read and passed over), and with one on "job.succeeded"
// (jobs/s from first submit to last end, each against the first); with the last,
// deliveries/s, and each delivery's delay from the event's time to its arrival (p50, p99)
// against a POST of the same body straight from this process to the same receiver.
// Usage: node bench/webhooks.mjs [--jobs 5000] [--posts 500]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startHttpReceiver } from "@kiln/core/testing";
import { Kiln } from "@kiln/sdk";
import { countArgs, percentile, startKiln } from "./lib.mjs";

const { jobs, posts } = countArgs({ jobs: 5000, posts: 500 });

/** Submits `jobs` no-op jobs a thousand per call and waits for the last; jobs/s from first submit to last end. */
async function runJobs(kiln) {
  const started = Date.now();
  const names = [];
  for (let done = 0; done < jobs; done += 1000) {
    names.push(...(await kiln.runtime.submitMany(Array.from({ length: Math.min(1000, jobs - done) }, () => ({ kind: "noop" })))).map((h) => h.name));
  }
  for (const name of names.slice(-64)) await kiln.runtime.job(name).wait();
  const ended = Math.max(...(await kiln.runtime.jobs({ limit: jobs })).map((j) => j.endTime?.getTime() ?? 0));
  return jobs / ((ended - started) / 1000);
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-webhooks-"));
const receiver = await startHttpReceiver();
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data"), KILN_EXECUTOR_SLOTS: "16" });
const kiln = await Kiln.connect(url);
try {
  await runJobs(kiln); // warm-up: V8 compiles the paths first
  const without = await runJobs(kiln);
  await kiln.webhooks.create("tags", { url: receiver.url, events: ["tag.moved"] });
  const passedOver = await runJobs(kiln);
  await kiln.webhooks.delete("tags");

  await kiln.webhooks.create("ends", { url: receiver.url, events: ["job.succeeded"], secret: "bench" });
  const withHook = await runJobs(kiln);
  const deadline = Date.now() + 120_000;
  while (receiver.received.length < jobs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  const arrivals = receiver.received.map((r) => ({ at: r.at, time: Date.parse(JSON.parse(r.body).time) }));
  const delays = arrivals.map((a) => a.at - a.time).sort((a, b) => a - b);
  const span = (Math.max(...arrivals.map((a) => a.at)) - Math.min(...arrivals.map((a) => a.time))) / 1000;

  // The floor: the same body POSTed straight from here, one after another.
  const body = receiver.received.at(-1).body;
  const direct = [];
  for (let i = 0; i < posts; i++) {
    const t = performance.now();
    await fetch(receiver.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    direct.push(performance.now() - t);
  }
  direct.sort((a, b) => a - b);

  await new Promise((r) => setTimeout(r, 1500)); // the counts are written every second
  const info = await kiln.webhooks.get("ends");
  console.log(`webhooks: ${jobs.toLocaleString("en")} no-op jobs, embedded server (in-process bus, 16 slots), a webhook on job.succeeded`);
  console.log(`  jobs/s without a webhook ${without.toFixed(0)}`);
  console.log(`  with one on tag.moved (each job's events read, none sent) ${passedOver.toFixed(0)}   ratio ${(passedOver / without).toFixed(2)}`);
  console.log(`  with one on job.succeeded (every job's end POSTed) ${withHook.toFixed(0)}   ratio ${(withHook / without).toFixed(2)}`);
  console.log(`  delivered ${arrivals.length} of ${jobs} (webhook counts ${info.deliveredCount}, failed ${info.failedCount}), ${(arrivals.length / span).toFixed(0)} deliveries/s`);
  console.log(`  event → arrival p50 ${percentile(delays, 50)} ms, p99 ${percentile(delays, 99)} ms   (a POST straight from here: p50 ${percentile(direct, 50).toFixed(2)} ms, p99 ${percentile(direct, 99).toFixed(2)} ms)`);
} finally {
  kiln.close();
  child.kill();
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
}
