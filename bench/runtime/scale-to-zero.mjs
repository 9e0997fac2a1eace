// Scaling to zero: the first request to a deployment that autoscaling scaled to zero (it
// wakes the deployment and waits for an executor to load the model) against a request to
// the same deployment warm, in the same run; and how long the deployment takes to reach
// zero replicas once requests stop (the rate window plus the scale-down delay).
// Usage: node bench/runtime/scale-to-zero.mjs [--rounds 3] [--model linear|mlp|forest]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, countArgs, percentile, startKiln } from "../lib.mjs";
import { featureColumns, fittedModel } from "./rows.mjs";

const { rounds } = countArgs({ rounds: 3 });
const modelKind = arg("model", "forest");
const DELAY_S = 1;

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-zero-"));
const { child, url } = await startKiln({ KILN_DATA_DIR: join(dir, "data") });
const kiln = await Kiln.connect(url);
try {
  const columns = featureColumns(1000);
  await kiln.models.put(`bench-${modelKind}`, fittedModel(modelKind, columns));
  await kiln.deployments.create("sleepy", { model: `bench-${modelKind}`, autoscaling: { maxReplicas: 1, targetRequestsPerSecond: 100, scaleDownDelayMs: DELAY_S * 1000, scaleToZero: true } });
  const row = [Object.fromEntries(Object.entries(columns).map(([k, c]) => [k, c[0]]))];
  const cold = [];
  const warm = [];
  const toZero = [];
  for (let r = 0; r < rounds; r++) {
    const quiet = performance.now();
    while ((await kiln.deployments.get("sleepy")).executors.length > 0) await new Promise((res) => setTimeout(res, 50));
    toZero.push(performance.now() - quiet);
    let t = performance.now();
    await kiln.deployments.predict("sleepy", row);
    cold.push(performance.now() - t);
    for (let i = 0; i < 50; i++) {
      t = performance.now();
      await kiln.deployments.predict("sleepy", row);
      warm.push(performance.now() - t);
    }
  }
  cold.sort((a, b) => a - b);
  warm.sort((a, b) => a - b);
  console.log(`${modelKind} model, ${rounds} rounds, scale-down delay ${DELAY_S} s, heartbeat 500 ms`);
  console.log(`first request, scaled to zero (wake, load, answer): ${cold.map((ms) => ms.toFixed(0)).join(", ")} ms`);
  console.log(`warm requests: p50 ${percentile(warm, 50).toFixed(2)} ms, p99 ${percentile(warm, 99).toFixed(2)} ms`);
  console.log(`cold / warm p50: ${(percentile(cold, 50) / percentile(warm, 50)).toFixed(0)}x`);
  console.log(`from the last request to no replica: ${toZero.slice(1).map((ms) => (ms / 1000).toFixed(1)).join(", ")} s (window of 10 heartbeats + ${DELAY_S} s delay + an unload)`);
  kiln.close();
} finally {
  child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
