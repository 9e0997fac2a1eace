// Registering a model through MLflow's model registry API against storing the same bytes
// with Kiln's SDK, on the same server, in the same run. The MLflow path is what
// `mlflow.register_model("runs:/…/model", name)` does once the run has its files: the
// tracking service reads the run's artifacts and streams them, as a tar of the model's
// folder, into the registry. The baseline is `kiln.models.put` of a file of the folder's
// size (what `kiln models:push` sends). Best of --rounds each.
// Usage: node bench/tracking/mlflow-register.mjs [--mib 64] [--rounds 3]
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kiln } from "@kiln/sdk";
import { arg, mlflowPost, startKiln, timed } from "../lib.mjs";

const mib = Number(arg("mib", "64"));
const rounds = Number(arg("rounds", "3"));
const MLMODEL = "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\n  sklearn:\n    pickled_model: model.pkl\n";

const dir = await mkdtemp(join(tmpdir(), "kiln-bench-register-"));
const server = await startKiln({ KILN_DATA_DIR: join(dir, "kiln") });
const call = mlflowPost(server.url);
const kiln = await Kiln.connect(server.url);
try {
  const pickle = randomBytes(mib * 1024 * 1024);
  const { experiment_id: experimentId } = await call("experiments/create", { name: "bench-register" });
  const { run } = await call("runs/create", { experiment_id: experimentId, start_time: Date.now() });
  const artifacts = run.info.artifact_uri.slice("mlflow-artifacts:/".length);
  for (const [path, body] of [["MLmodel", MLMODEL], ["model.pkl", pickle]]) {
    const res = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${artifacts}/model/${path}`, server.url), { method: "PUT", body });
    if (res.status !== 200) throw new Error(`upload ${path}: ${res.status}`);
  }
  await call("registered-models/create", { name: "bench-mlflow" });

  let mlflow = Infinity;
  let direct = Infinity;
  for (let r = 0; r < rounds; r++) {
    // Each round's bytes differ, so neither path finds its blobs stored already.
    const direct1 = await timed(() => kiln.models.put("bench-direct", Buffer.concat([pickle, Buffer.from(`round ${r}`)]), { format: "sklearn-pickle", fileName: "model.pkl" }));
    direct = Math.min(direct, direct1.seconds);
    const res = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${artifacts}/model/round.txt`, server.url), { method: "PUT", body: `round ${r}` });
    if (res.status !== 200) throw new Error(`upload round.txt: ${res.status}`);
    const registered = await timed(() => call("model-versions/create", { name: "bench-mlflow", source: `runs:/${run.info.run_id}/model`, run_id: run.info.run_id }));
    mlflow = Math.min(mlflow, registered.seconds);
  }
  const rate = (s) => `${(mib / s).toFixed(0)} MiB/s`;
  console.log(`best of ${rounds} rounds; a model of ${mib} MiB (the run's files already stored)`);
  console.log(`MLflow model-versions/create (copied as a tar)  ${mlflow.toFixed(2)} s  ${rate(mlflow)}`);
  console.log(`kiln.models.put of the same bytes               ${direct.toFixed(2)} s  ${rate(direct)}`);
  console.log(`ratio Kiln put time / MLflow register time: ${(direct / mlflow).toFixed(2)}`);
} finally {
  kiln.close();
  server.child.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
