// Request logging: what logging every request to a dataset costs a deployment's answers.
// Two deployments of one model on the embedded executor, one logging all its requests
// (request_log at 100%), one not; N single-row predicts, sequential and with C in flight,
// alternating between the two each round. Prints the best round's p50/p99 and requests/s of
// each and the ratios logged / unlogged, and checks that every logged request reached its
// dataset (the log is written every KILN_REQUEST_LOG_FLUSH_MS, here 1 s, or at 10,000 rows).
// Usage: node bench/runtime/request-log.mjs [--requests 2000] [--concurrency 32] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { countArgs, load, startKiln } from "../lib.mjs";
import { featureColumns, fittedModel } from "./rows.mjs";

const { requests, concurrency, rounds } = countArgs({ requests: 2000, concurrency: 32, rounds: 3 });

const columns = featureColumns(256);
const inputs = Array.from({ length: 256 }, (_, i) => tableFromArrays(Object.fromEntries(Object.entries(columns).map(([name, c]) => [name, c.slice(i, i + 1)]))));

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-request-log-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data"), KILN_REQUEST_LOG_FLUSH_MS: "1000" });
const kiln = await Kiln.connect(url);
try {
  await kiln.models.put("bench-linear", fittedModel("linear", featureColumns(1000)));
  await kiln.deployments.create("plain", { model: "bench-linear" });
  await kiln.deployments.create("logged", { model: "bench-linear", requestLog: { dataset: "bench-requests" } });
  const predict = (id) => (i) => kiln.deployments.predict(id, inputs[i % inputs.length]);
  for (const id of ["plain", "logged"]) await load(100, 1, predict(id));

  const best = {};
  const keep = (name, run, better) => {
    if (!best[name] || better(run, best[name])) best[name] = run;
  };
  for (let round = 0; round < rounds; round++) {
    for (const id of ["plain", "logged"]) {
      await new Promise((r) => setTimeout(r, 200));
      keep(`${id}Seq`, await load(requests, 1, predict(id)), (a, b) => a.p50 < b.p50);
      await new Promise((r) => setTimeout(r, 200));
      keep(`${id}Load`, await load(requests, concurrency, predict(id)), (a, b) => a.perSecond > b.perSecond);
    }
  }
  const sent = 100 + rounds * 2 * requests;
  const deadline = Date.now() + 30_000;
  let stats;
  while ((stats = (await kiln.deployments.get("logged")).stats).loggedRows + stats.unloggedRows < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  const day = new Date().toISOString().slice(0, 10);
  const stored = (await kiln.datasets.info(`bench-requests-${day}`)).latest?.rowCount ?? 0;

  const line = (name, r) => `${name.padEnd(34)} p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  ${Math.round(r.perSecond)} req/s`;
  console.log(`request log: ${requests} single-row predicts per run, best of ${rounds}, embedded server`);
  console.log(line("sequential, not logged", best.plainSeq));
  console.log(line("sequential, every request logged", best.loggedSeq));
  console.log(line(`${concurrency} in flight, not logged`, best.plainLoad));
  console.log(line(`${concurrency} in flight, every request logged`, best.loggedLoad));
  console.log(`ratios logged / not: sequential p50 ${(best.loggedSeq.p50 / best.plainSeq.p50).toFixed(2)}, under load req/s ${(best.loggedLoad.perSecond / best.plainLoad.perSecond).toFixed(2)}`);
  console.log(`logged ${stats.loggedRows} of ${sent} requests (${stats.unloggedRows} dropped); the day's dataset holds ${stored} rows`);
} finally {
  kiln.close();
  child.kill();
  await rm(dir, { recursive: true, force: true });
}
