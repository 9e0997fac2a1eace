import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { bestMs, load, mlflowPost, startKiln } from "../lib.mjs";
const runs = 20000;
const dir = await mkdtemp(join(tmpdir(), "kiln-scratch-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const post = mlflowPost(server.url);
try {
  const { experiment_id: big } = await post("experiments/create", { name: "scratch" });
  const start = Date.now();
  await load(runs, 8, async (i) => {
    const { run } = await post("runs/create", { experiment_id: big, start_time: start + i });
    await post("runs/log-batch", { run_id: run.info.run_id, metrics: [{ key: "accuracy", value: i / runs, timestamp: start, step: 0 }, { key: "loss", value: 1 / (1 + i), timestamp: start, step: 0 }], params: [{ key: "model", value: "xgb" }, { key: "depth", value: String(i % 12) }] });
  });
  const kiln = await Kiln.connect(server.url);
  const exp = kiln.experiment(big);
  console.log("summary all", await bestMs(3, () => exp.summary("all")));
  console.log("summary 100", await bestMs(3, () => exp.summary(`${runs - 99}..${runs}`)));
  console.log("runs()", await bestMs(3, () => exp.runs()));
} finally {
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
