// Jobs that run after others, settled by the scheduler, against the same work sequenced by
// the client (submit, wait for the end, submit the next), on embedded Kiln:
// - a chain of N no-op jobs (each after the one before);
// - a fit, then N predicts of a small dataset after it, in a chain (each after the one
//   before, so each release walks back to the fit to learn its version);
// - a fit, then M predicts after it side by side (a fan-out).
// Prints each one's time and the ratio client-sequenced / server-settled (above 1: the
// scheduler's settling is faster than a client's round trips).
// Usage: node bench/runtime/chains.mjs [--chain 200] [--fanout 1000]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, startKiln } from "../lib.mjs";

const chain = Number(arg("chain", "200"));
const fanout = Number(arg("fanout", "1000"));

const rows = Array.from({ length: 64 }, (_, i) => ({ a: i, b: Math.sin(i), y: 2 * i - 3 * Math.sin(i) + 1 }));

async function timedMs(fn) {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function freshModel(kiln, name) {
  await kiln.models.create(name, { estimator: "linear_regression" });
  return kiln.runtime.model(name);
}

const fit = (model) => model.fit({ dataset: "rows", columns: ["a", "b"] }, { dataset: "rows", columns: ["y"] });
const predict = (model, options) => model.predict({ dataset: "rows", columns: ["a", "b"] }, options);

async function noopChain(kiln) {
  const server = await timedMs(async () => {
    let last = await kiln.runtime.noop();
    for (let i = 1; i < chain; i++) last = await kiln.runtime.noop({ after: last });
    await last.wait();
  });
  const client = await timedMs(async () => {
    for (let i = 0; i < chain; i++) await (await kiln.runtime.noop()).wait();
  });
  return { what: `chain of ${chain} no-op jobs`, server, client };
}

async function predictChain(kiln, round) {
  const server = await timedMs(async () => {
    const model = await freshModel(kiln, `chain-s${round}`);
    let last = await fit(model);
    for (let i = 0; i < chain; i++) last = await predict(model, { after: last });
    await last.wait();
    const info = await last.info();
    if (!/\/versions\/2$/.test(info.model)) throw new Error(`the last predict ran ${info.model}`);
  });
  const client = await timedMs(async () => {
    const model = await freshModel(kiln, `chain-c${round}`);
    await (await fit(model)).wait();
    for (let i = 0; i < chain; i++) await (await predict(model)).wait();
  });
  return { what: `a fit, then ${chain} predicts in a chain`, server, client };
}

async function fanOut(kiln, round) {
  const specs = (model, after) => Array.from({ length: fanout }, () => ({ kind: "predict", model, x: { dataset: "rows", columns: ["a", "b"] }, after }));
  const server = await timedMs(async () => {
    await kiln.models.create(`fan-s${round}`, { estimator: "linear_regression" });
    const fitted = await fit(kiln.runtime.model(`fan-s${round}`));
    const handles = await kiln.runtime.submitMany(specs(`fan-s${round}`, fitted));
    for (const h of handles) await h.wait();
  });
  const client = await timedMs(async () => {
    await kiln.models.create(`fan-c${round}`, { estimator: "linear_regression" });
    await (await fit(kiln.runtime.model(`fan-c${round}`))).wait();
    const handles = await kiln.runtime.submitMany(specs(`fan-c${round}`));
    for (const h of handles) await h.wait();
  });
  return { what: `a fit, then ${fanout} predicts after it`, server, client };
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-chains-"));
const kilnProcess = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
try {
  const kiln = await Kiln.connect(kilnProcess.url);
  await kiln.datasets.put("rows", rows);
  // One untimed round first: a fresh process compiles as it goes.
  await noopChain(kiln);
  await predictChain(kiln, 0);
  for (const r of [await noopChain(kiln), await predictChain(kiln, 1), await fanOut(kiln, 1)]) {
    console.log(
      `${r.what.padEnd(40)} settled by the scheduler ${(r.server / 1000).toFixed(2)} s, sequenced by the client ${(r.client / 1000).toFixed(2)} s: ratio ${(r.client / r.server).toFixed(2)}`,
    );
  }
  kiln.close();
} finally {
  kilnProcess.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
