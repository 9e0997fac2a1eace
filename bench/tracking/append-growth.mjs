// Whether an append's cost stays flat as the event store grows: MLflow's log-metric, one
// point a call (one batch each, as a training loop logs a step), in blocks of 1,000 calls;
// prints each block's time a call and the last block's against the first's after warm-up.
// (An append once found the next sequence number by sorting every batch: 1.4 ms a call
// after 2,000 calls, 2.1 ms after 8,000.)
// Usage: node bench/tracking/append-growth.mjs [--blocks 20]
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countArgs, mlflowPost, startKiln } from "../lib.mjs";

const { blocks } = countArgs({ blocks: 20 });
const PER_BLOCK = 1000;
const dir = await mkdtemp(join(tmpdir(), "kiln-bench-append-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);
try {
  const { experiment_id: experimentId } = await post("experiments/create", { name: "bench-append-growth" });
  const { run } = await post("runs/create", { experiment_id: experimentId, start_time: Date.now() });
  const perCall = [];
  for (let block = 0; block < blocks; block++) {
    const started = performance.now();
    for (let i = 0; i < PER_BLOCK; i++) await post("runs/log-metric", { run_id: run.info.run_id, key: "loss", value: Math.random(), timestamp: Date.now(), step: block * PER_BLOCK + i });
    perCall.push((performance.now() - started) / PER_BLOCK);
    console.log(`after ${((block + 1) * PER_BLOCK).toLocaleString("en")} calls: ${perCall.at(-1).toFixed(2)} ms a call`);
  }
  const warm = perCall[Math.min(2, perCall.length - 1)];
  console.log(`ratio last block / third block: ${(perCall.at(-1) / warm).toFixed(2)} (flat is 1)`);
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
