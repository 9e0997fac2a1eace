// Inference graphs: what running deployments through a graph on the scheduler costs, against
// the client doing the same with the deployments directly (what a user without graphs writes).
// Two deployments of small models on the embedded executor; requests of --rows R rows (default 1).
// Measured, per round, N requests one after another (client-observed p50/p99):
//   one step:  a graph of one sequence step   vs  the deployment's predict;
//   chain:     a sequence of two steps        vs  two predicts one after the other;
//   ensemble:  the mean of two deployments    vs  two predicts at once, averaged here;
//   switch:    rows routed by f0 > 0          vs  the rows split here, two predicts at once, put back in order;
// and the one-step graph under load (C in flight) vs the deployment's predict under the same load.
// Every graph answer is checked against the direct path's (throws if they differ).
// Prints the best round of --rounds of each (lowest p50; highest requests/s under load) and the ratios graph / direct.
// Usage: node bench/runtime/graphs.mjs [--requests 1000] [--rows 1] [--concurrency 32] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays } from "apache-arrow";
import { Kiln } from "@kiln/sdk";
import { LinearRegression } from "@kiln/ml";
import { bestOfRounds, countArgs, load, startKiln } from "../lib.mjs";
import { FEATURES, featureColumns } from "./rows.mjs";

const { requests, rows, concurrency, rounds } = countArgs({ requests: 1000, rows: 1, concurrency: 32, rounds: 3 });
const DISTINCT = Math.min(requests, 128);
const columns = featureColumns(DISTINCT * rows);
const inputs = Array.from({ length: DISTINCT }, (_, i) => tableFromArrays(Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, c.slice(i * rows, (i + 1) * rows)]))));
const training = Array.from({ length: 1000 }, (_, i) => Array.from({ length: FEATURES }, (_, j) => Math.sin(i * (j + 1))));
const modelA = new LinearRegression().fit(training, training.map((r) => r.reduce((a, b, j) => a + b * (j + 1), 0.5)));
const modelB = new LinearRegression().fit(training, training.map((r) => r.reduce((a, b, j) => a - b * j, 2)));

const predictions = (t) => Array.from({ length: t.numRows }, (_, i) => Number(t.getChild("prediction").get(i)));
function same(what, got, expected) {
  if (got.length !== expected.length || got.some((v, i) => !(Math.abs(v - expected[i]) <= 1e-5 * Math.max(1, Math.abs(expected[i]))))) {
    throw new Error(`${what}: the graph answered ${got.slice(0, 4)}…, the deployments ${expected.slice(0, 4)}…`);
  }
}

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-graphs-"));
let kilnProc, kiln;
try {
  kilnProc = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
  kiln = await Kiln.connect(kilnProc.url);
  await kiln.models.put("bench-a", modelA);
  await kiln.models.put("bench-b", modelB);
  await kiln.deployments.create("a", { model: "bench-a" });
  await kiln.deployments.create("b", { model: "bench-b" });
  const graphs = kiln.inferenceGraphs;
  await graphs.create("one", { nodes: { root: { routerType: "sequence", steps: [{ deployment: "a" }] } } });
  await graphs.create("chain", { nodes: { root: { routerType: "sequence", steps: [{ deployment: "a" }, { deployment: "b", data: "request" }] } } });
  await graphs.create("blend", { nodes: { root: { routerType: "ensemble", combine: "mean", steps: [{ deployment: "a" }, { deployment: "b" }] } } });
  await graphs.create("route", { nodes: { root: { routerType: "switch", steps: [{ deployment: "a", condition: "f0 > 0" }, { deployment: "b" }] } } });

  const X = (i) => inputs[i % DISTINCT];
  const direct = {
    one: async (i) => predictions(await kiln.deployments.predict("a", X(i))),
    chain: async (i) => {
      await kiln.deployments.predict("a", X(i));
      return predictions(await kiln.deployments.predict("b", X(i)));
    },
    blend: async (i) => {
      const [a, b] = (await Promise.all([kiln.deployments.predict("a", X(i)), kiln.deployments.predict("b", X(i))])).map(predictions);
      return a.map((v, j) => (v + b[j]) / 2);
    },
    route: async (i) => {
      const t = X(i);
      const f0 = t.getChild("f0").toArray();
      const positive = [], rest = [];
      for (let j = 0; j < t.numRows; j++) (f0[j] > 0 ? positive : rest).push(j);
      const part = (idx) => tableFromArrays(Object.fromEntries(Object.keys(columns).map((k) => [k, Float64Array.from(idx, (j) => t.getChild(k).get(j))])));
      const [a, b] = await Promise.all([positive.length ? kiln.deployments.predict("a", part(positive)) : null, rest.length ? kiln.deployments.predict("b", part(rest)) : null]);
      const out = new Array(t.numRows);
      if (a) predictions(a).forEach((v, j) => (out[positive[j]] = v));
      if (b) predictions(b).forEach((v, j) => (out[rest[j]] = v));
      return out;
    },
  };
  const viaGraph = (name) => async (i) => predictions(await graphs.predict(name, X(i)));
  // Warm up and check every graph against the direct path on every distinct request.
  for (const name of Object.keys(direct)) for (let i = 0; i < DISTINCT; i++) same(`${name} request ${i}`, await viaGraph(name)(i), await direct[name](i));

  const { best, keep, lower, higher } = bestOfRounds();
  const settle = () => new Promise((r) => setTimeout(r, 100));
  for (let round = 1; round <= rounds; round++) {
    for (const name of Object.keys(direct)) {
      await settle();
      const d = await load(requests, 1, direct[name]);
      keep(`${name}.direct`, d, (x, y) => lower(x.p50, y.p50));
      await settle();
      const g = await load(requests, 1, viaGraph(name));
      keep(`${name}.graph`, g, (x, y) => lower(x.p50, y.p50));
    }
    await settle();
    keep("load.direct", await load(requests, concurrency, direct.one), (x, y) => higher(x.perSecond, y.perSecond));
    await settle();
    keep("load.graph", await load(requests, concurrency, viaGraph("one")), (x, y) => higher(x.perSecond, y.perSecond));
  }

  const f = (ms) => `${ms.toFixed(3)} ms`.padStart(10);
  console.log(`best of ${rounds} rounds; ${requests} requests of ${rows} row${rows === 1 ? "" : "s"} × ${FEATURES} features, linear models, the embedded executor; answers checked on ${DISTINCT} distinct requests`);
  console.log(`${"".padEnd(40)}${"graph p50".padStart(10)}  ${"p99".padStart(10)}  ${"direct p50".padStart(10)}  ${"p99".padStart(10)}  ratio (p50)`);
  const labels = { one: "one step", chain: "chain of two (sequence)", blend: "mean of two (ensemble)", route: "rows by f0 > 0 (switch)" };
  for (const [name, label] of Object.entries(labels)) {
    const g = best[`${name}.graph`];
    const d = best[`${name}.direct`];
    console.log(`${label.padEnd(40)}${f(g.p50)}  ${f(g.p99)}  ${f(d.p50)}  ${f(d.p99)}  ${(g.p50 / d.p50).toFixed(2)}`);
  }
  const lg = best["load.graph"];
  const ld = best["load.direct"];
  console.log(`one step, ${concurrency} in flight: graph ${Math.round(lg.perSecond)} req/s (p50 ${lg.p50.toFixed(2)} ms) vs direct ${Math.round(ld.perSecond)} req/s (p50 ${ld.p50.toFixed(2)} ms): ratio ${(lg.perSecond / ld.perSecond).toFixed(2)}`);
} finally {
  kiln?.close();
  kilnProc?.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
