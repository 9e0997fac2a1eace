// Many deployments on one executor: K deployments of distinct small models (the embedded
// executor serves them all), sequential 1-row predictions round-robin across them, against the
// same predictions to one deployment. The worker pool keeps a few ONNX sessions per worker
// (least recently used released); a deployment pins its model's sessions so that serving more
// models than that does not reload one per request. Prints p50/p90 of each and the ratio.
// Usage: node bench/runtime/many-deployments.mjs [--deployments 8] [--requests 400] [--rounds 3]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { linearRegressorOnnx } from "@kiln/onnx";
import { arg, startKiln } from "../lib.mjs";

const many = Number(arg("deployments", "8"));
const requests = Number(arg("requests", "400"));
const rounds = Number(arg("rounds", "3"));

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-deployments-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
try {
  const kiln = await Kiln.connect(server.url);
  // Distinct weights, distinct model files: each deployment its own session.
  const deploy = async (count, prefix) => {
    for (let i = 0; i < count; i++) {
      await kiln.models.put(`${prefix}-${i}`, linearRegressorOnnx([1 + i, 2, 3, 4], i));
      await kiln.deployments.create(`${prefix}-${i}`, { model: `${prefix}-${i}` });
    }
    return (n) => `${prefix}-${n % count}`;
  };
  const one = await deploy(1, "one");
  const spread = await deploy(many, "many");
  const row = [[1, 2, 3, 4]];
  const measure = async (target) => {
    const ms = [];
    for (let n = 0; n < requests; n++) {
      const t = performance.now();
      await kiln.deployments.predict(target(n), row);
      ms.push(performance.now() - t);
    }
    ms.sort((a, b) => a - b);
    return { p50: ms[Math.floor(requests / 2)], p90: ms[Math.floor(requests * 0.9)] };
  };
  for (let i = 0; i < 50; i++) await kiln.deployments.predict(spread(i), row); // every model loaded once
  let best = { one: { p50: Infinity }, many: { p50: Infinity } };
  for (let round = 1; round <= rounds; round++) {
    const a = await measure(one);
    const b = await measure(spread);
    if (a.p50 < best.one.p50) best.one = a;
    if (b.p50 < best.many.p50) best.many = b;
  }
  const f = (x) => `${x.toFixed(3)} ms`;
  console.log(`best of ${rounds} rounds of ${requests} sequential 1-row predictions, embedded executor`);
  console.log(`one deployment:               p50 ${f(best.one.p50)}  p90 ${f(best.one.p90)}`);
  console.log(`${many} deployments, round-robin: p50 ${f(best.many.p50)}  p90 ${f(best.many.p90)}`);
  console.log(`ratio (${many} / one, p50): ${(best.many.p50 / best.one.p50).toFixed(2)}`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
