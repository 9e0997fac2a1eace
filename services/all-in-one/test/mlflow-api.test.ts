import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { embeddedServer } from "./embedded-server.js";
import { cli, unique } from "./helpers.js";
import { mlflowRest, type Body } from "./mlflow-rest.js";

/**
 * MLflow's REST API as MLflow's Python client calls it (rest_store.py): GETs with their
 * fields as query parameters (run_id and run_uuid both), POSTs with JSON bodies, int64s
 * as JSON numbers, NaN as "NaN", and errors read from {error_code, message}.
 */
describe("MLflow's REST API on an embedded server", () => {
  const server = embeddedServer("mlflow");
  const { api, get, post, ok } = mlflowRest(() => server.url);
  const newRun = async (experimentId: string, extra: Body = {}) => (await ok(post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now(), ...extra }))).run.info.run_id as string;
  const newExperiment = async (name = unique("mlflow")) => (await ok(post("mlflow/experiments/create", { name }))).experiment_id as string;

  it("takes a script's calls (set_experiment, start_run, log_param, log_metric, log_artifact, end_run), and Kiln's SDK reads what it logged", async () => {
    const name = unique("churn model");
    // set_experiment: by name, created when missing (the client reads 404 RESOURCE_DOES_NOT_EXIST as "missing").
    const missing = await get("mlflow/experiments/get-by-name", { experiment_name: name });
    expect([missing.status, missing.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    const experimentId = (await ok(post("mlflow/experiments/create", { name }))).experiment_id as string;
    expect(experimentId).toMatch(/^churn-model-[0-9a-f]{8}-[0-9a-f]{8}$/);
    const experiment = (await ok(get("mlflow/experiments/get", { experiment_id: experimentId }))).experiment;
    expect(experiment).toMatchObject({ experiment_id: experimentId, name, lifecycle_stage: "active", artifact_location: `mlflow-artifacts:/${experimentId}`, tags: [] });
    expect((await ok(get("mlflow/experiments/get-by-name", { experiment_name: name }))).experiment.experiment_id).toBe(experimentId);

    const started = Date.now() - 5_000;
    const created = (await ok(post("mlflow/runs/create", { experiment_id: experimentId, user_id: "ann", start_time: started, tags: [{ key: "mlflow.source.type", value: "LOCAL" }] }))).run;
    const runId = created.info.run_id as string;
    expect(runId).toMatch(/^[a-zA-Z0-9][\w-]{0,255}$/); // the client's own check of run ids
    expect(created.info).toMatchObject({ experiment_id: experimentId, status: "RUNNING", start_time: started, user_id: "ann", lifecycle_stage: "active", artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts` });
    await ok(post("mlflow/runs/log-parameter", { run_uuid: runId, run_id: runId, key: "C", value: "0.1" }));
    await ok(post("mlflow/runs/log-metric", { run_uuid: runId, run_id: runId, key: "accuracy", value: 0.93, timestamp: Date.now(), step: 0 }));
    const artifactUri = (await ok(get("mlflow/runs/get", { run_uuid: runId, run_id: runId }))).run.info.artifact_uri as string;
    const upload = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${artifactUri.slice("mlflow-artifacts:/".length)}/scores.csv`, server.url), {
      method: "PUT",
      headers: { "content-type": "text/csv" },
      body: "fold,score\n1,0.9\n",
    });
    expect([upload.status, await upload.json()]).toEqual([200, {}]);
    const ended = Date.now();
    expect((await ok(post("mlflow/runs/update", { run_uuid: runId, run_id: runId, status: "FINISHED", end_time: ended }))).run_info).toMatchObject({ status: "FINISHED", end_time: ended });

    // The same run through Kiln's own API: params, metrics and files as Kiln logs them.
    const exp = server.kiln.experiment(experimentId);
    const rows = await exp.data();
    expect(rows.find((r) => r.event === "param")).toMatchObject({ key: "C", value: "0.1", run: 1 });
    expect(rows.find((r) => r.event === "metric")).toMatchObject({ key: "accuracy", value: 0.93, step: 0 });
    expect(new TextDecoder().decode((await exp.artifact("scores.csv")) as Uint8Array)).toBe("fold,score\n1,0.9\n");
    expect((await exp.runs())[0]).toMatchObject({ run: 1, status: "finished", endTime: new Date(ended), tags: { "mlflow.user": "ann", "mlflow.source.type": "LOCAL" } });
  });

  it("shows a run logged by Kiln's SDK as MLflow does: each metric's latest value (highest step), its params as text", async () => {
    const id = unique("kiln-logged");
    const exp = server.kiln.experiment(id);
    await exp.run(async (run) => {
      run.logParam("C", 0.5);
      run.logParam("solver", "lbfgs");
      run.logMetric("loss", 0.9, { step: 2 });
      run.logMetric("loss", 0.4, { step: 7 });
      run.logMetric("loss", 0.6, { step: 5 });
      await run.logArtifact(new TextEncoder().encode("w"), "weights/w.bin");
    });
    const { runs } = await ok(post("mlflow/runs/search", { experiment_ids: [id] }));
    expect(runs).toHaveLength(1);
    const run = runs[0];
    expect(run.info).toMatchObject({ run_id: `${id}-r1`, experiment_id: id, status: "FINISHED" });
    expect(run.data.metrics).toEqual([{ key: "loss", value: 0.4, step: 7, timestamp: expect.any(Number) }]);
    expect(run.data.params).toEqual(expect.arrayContaining([{ key: "C", value: "0.5" }, { key: "solver", value: "lbfgs" }]));
    const history = (await ok(get("mlflow/metrics/get-history", { run_id: run.info.run_id, run_uuid: run.info.run_id, metric_key: "loss", max_results: "25000" }))).metrics;
    expect(history.map((m: { step: number; value: number }) => [m.step, m.value])).toEqual([[2, 0.9], [5, 0.6], [7, 0.4]]);
    const listed = await ok(get("mlflow/artifacts/list", { run_id: run.info.run_id, path: "weights" }));
    expect(listed).toEqual({ root_uri: `mlflow-artifacts:/${id}/${id}-r1/artifacts`, files: [{ path: "weights/w.bin", is_dir: false, file_size: 1 }] });
  });

  it("keeps a param's first value, stores a retried call once, and round-trips NaN and the infinities", async () => {
    const runId = await newRun(await newExperiment());
    await ok(post("mlflow/runs/log-parameter", { run_id: runId, key: "lr", value: "0.1" }));
    await ok(post("mlflow/runs/log-parameter", { run_id: runId, key: "lr", value: "0.1" })); // the same value again is fine
    const changed = await post("mlflow/runs/log-parameter", { run_id: runId, key: "lr", value: "0.2" });
    expect(changed.status).toBe(400);
    expect(changed.body).toMatchObject({ error_code: "INVALID_PARAMETER_VALUE", message: expect.stringContaining("Changing param values is not allowed. Param with key='lr' was already logged with value='0.1'") });
    const point = { run_id: runId, key: "loss", value: 0.25, timestamp: 1_700_000_000_000, step: 3 };
    await ok(post("mlflow/runs/log-metric", point));
    await ok(post("mlflow/runs/log-metric", point)); // a retry after a lost answer
    for (const [step, value] of [[4, "NaN"], [5, "Infinity"], [6, "-Infinity"]] as const) await ok(post("mlflow/runs/log-metric", { ...point, step, value }));
    const history = (await ok(get("mlflow/metrics/get-history", { run_id: runId, metric_key: "loss" }))).metrics;
    expect(history.map((m: { value: unknown }) => m.value)).toEqual([0.25, "NaN", "Infinity", "-Infinity"]);
    expect((await ok(get("mlflow/runs/get", { run_id: runId }))).run.data.params).toEqual([{ key: "lr", value: "0.1" }]);
  });

  it("logs batches (metrics and params together, tags after) and refuses one over MLflow's limits whole", async () => {
    const runId = await newRun(await newExperiment());
    const metrics = Array.from({ length: 50 }, (_, i) => ({ key: "acc", value: i / 50, timestamp: 1_700_000_000_000 + i, step: i }));
    await ok(post("mlflow/runs/log-batch", { run_id: runId, metrics, params: [{ key: "depth", value: "3" }], tags: [{ key: "stage", value: "dev" }, { key: "mlflow.runName", value: "bold-fox" }] }));
    const run = (await ok(get("mlflow/runs/get", { run_id: runId }))).run;
    expect(run.info.run_name).toBe("bold-fox");
    expect(run.data.metrics).toEqual([{ key: "acc", value: 0.98, timestamp: 1_700_000_000_049, step: 49 }]);
    expect(run.data.tags).toEqual(expect.arrayContaining([{ key: "stage", value: "dev" }, { key: "mlflow.runName", value: "bold-fox" }]));
    const tooMany = await post("mlflow/runs/log-batch", { run_id: runId, params: Array.from({ length: 101 }, (_, i) => ({ key: `p${i}`, value: "x" })) });
    expect([tooMany.status, tooMany.body.error_code, tooMany.body.message]).toEqual([400, "INVALID_PARAMETER_VALUE", "A batch logging request can contain at most 100 params. Got 101 params."]);
    const conflicting = await post("mlflow/runs/log-batch", { run_id: runId, metrics: [{ key: "other", value: 1, timestamp: 1 }], params: [{ key: "depth", value: "4" }] });
    expect(conflicting.status).toBe(400);
    expect((await ok(get("mlflow/metrics/get-history", { run_id: runId, metric_key: "other" }))).metrics).toEqual([]); // nothing of the refused batch
    await ok(post("mlflow/runs/set-tag", { run_id: runId, key: "mlflow.runName", value: "calm-owl" }));
    await ok(post("mlflow/runs/delete-tag", { run_id: runId, key: "stage" }));
    const after = (await ok(get("mlflow/runs/get", { run_id: runId }))).run;
    expect(after.info.run_name).toBe("calm-owl");
    expect(after.data.tags.map((t: { key: string }) => t.key)).not.toContain("stage");
    expect((await post("mlflow/runs/delete-tag", { run_id: runId, key: "stage" })).status).toBe(404);
  });

  it("searches runs by metrics, params, tags and attributes, orders them (missing values last) and pages", async () => {
    const experimentId = await newExperiment();
    const ids: string[] = [];
    for (const [i, acc] of [0.7, 0.9, undefined, 0.8].entries()) {
      const runId = await newRun(experimentId, { start_time: 1_700_000_000_000 + i, run_name: `run-${"abcd"[i]}` });
      ids.push(runId);
      await ok(post("mlflow/runs/log-batch", { run_id: runId, params: [{ key: "model", value: i % 2 ? "Tree" : "linear" }], tags: [{ key: "team", value: `risk-${i}` }], metrics: acc === undefined ? [] : [{ key: "acc", value: acc, timestamp: 1, step: 0 }] }));
    }
    await ok(post("mlflow/runs/update", { run_id: ids[3], status: "FAILED" }));
    const search = async (body: Body) => ((await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], ...body }))).runs ?? []).map((r: { info: { run_id: string } }) => ids.indexOf(r.info.run_id));
    expect(await search({})).toEqual([3, 2, 1, 0]); // newest first
    expect(await search({ filter: "metrics.acc >= 0.8" })).toEqual([3, 1]);
    expect(await search({ filter: "metrics.acc > 0.85 and params.model = 'Tree'" })).toEqual([1]);
    expect(await search({ filter: "params.model ILIKE 'tree'" })).toEqual([3, 1]);
    expect(await search({ filter: "params.model LIKE 'tree'" })).toEqual([]);
    // A run found by a param is answered whole: its metrics, other params and tags too.
    const byParam = (await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], filter: "params.model = 'Tree'" }))).runs;
    expect(byParam[1].data).toMatchObject({ metrics: [{ key: "acc", value: 0.9, timestamp: 1, step: 0 }], params: [{ key: "model", value: "Tree" }], tags: expect.arrayContaining([{ key: "team", value: "risk-1" }]) });
    expect(await search({ filter: "tags.team LIKE 'risk-%' AND attributes.status = 'FAILED'" })).toEqual([3]);
    expect(await search({ filter: "attributes.run_name = 'run-c'" })).toEqual([2]);
    expect(await search({ filter: `attributes.run_id IN ('${ids[0]}', '${ids[2]}')` })).toEqual([2, 0]);
    expect(await search({ filter: "attributes.start_time < 1700000000002" })).toEqual([1, 0]);
    expect(await search({ filter: "tags.`team` != 'risk-0'" })).toEqual([3, 2, 1]);
    expect(await search({ order_by: ["metrics.acc DESC"] })).toEqual([1, 3, 0, 2]);
    expect(await search({ order_by: ["metrics.acc ASC"] })).toEqual([0, 3, 1, 2]); // the run without acc last either way
    expect(await search({ order_by: ["params.model", "start_time ASC"] })).toEqual([1, 3, 0, 2]);
    const first = await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], max_results: 3 }));
    expect(first.runs).toHaveLength(3);
    const second = await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], max_results: 3, page_token: first.next_page_token }));
    expect(second.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([ids[0]]);
    expect(second.next_page_token).toBeUndefined();
    for (const filter of ["metrics.acc > 'high'", "params.model = 'a' OR params.model = 'b'", "attributes.colour = 'red'", "metrics.acc LIKE '0.%'"]) {
      const refused = await post("mlflow/runs/search", { experiment_ids: [experimentId], filter });
      expect([refused.status, refused.body.error_code], filter).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    }
  });

  it("deletes and restores runs as MLflow's searches see them, and keeps the models and dataset inputs a run logged", async () => {
    const experimentId = await newExperiment();
    const kept = await newRun(experimentId, { start_time: 1 });
    const dropped = await newRun(experimentId, { start_time: 2 });
    await ok(post("mlflow/runs/delete", { run_id: dropped }));
    const search = async (view?: string) =>
      ((await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], ...(view && { run_view_type: view }) }))).runs ?? []).map((r: { info: { run_id: string; lifecycle_stage: string } }) => [r.info.run_id, r.info.lifecycle_stage]);
    expect(await search()).toEqual([[kept, "active"]]);
    expect(await search("DELETED_ONLY")).toEqual([[dropped, "deleted"]]);
    expect(await search("ALL")).toEqual([[dropped, "deleted"], [kept, "active"]]);
    const refused = await post("mlflow/runs/log-metric", { run_id: dropped, key: "m", value: 1, timestamp: 1 });
    expect([refused.status, refused.body.message]).toEqual([400, `The run ${dropped} must be in the 'active' state. Current state is deleted.`]);
    // Kiln's own API keeps every run, and says which MLflow's deleted.
    const kilnExp = server.kiln.experiment(experimentId);
    expect((await kilnExp.runs()).map((r) => [r.run, r.deleteTime instanceof Date])).toEqual([[2, true], [1, false]]);
    expect((await kilnExp.search()).map((r) => [r.run, r.deleteTime instanceof Date])).toEqual([[2, true], [1, false]]);
    const listed = (await cli(() => server.url).kiln("runs", experimentId)).trim().split("\n");
    expect(listed).toEqual([expect.stringMatching(/^RUN\s+STATUS\s+STARTED\s+DELETED$/), expect.stringMatching(/^2\s+running\s+\S+\s+in MLflow$/), expect.stringMatching(/^1\s+running\s+\S+\s*$/)]);
    expect(await cli(() => server.url).kiln("runs:show", experimentId, "2")).toMatch(/\ndeleted:\s+\d{4}-\S+Z \(by MLflow's API; its restore undoes it\)\n/);
    await ok(post("mlflow/runs/restore", { run_id: dropped }));
    expect(await search()).toEqual([[dropped, "active"], [kept, "active"]]);
    expect((await kilnExp.summary([2]))[0]!.deleteTime).toBeUndefined();

    const model = { artifact_path: "model", run_id: kept, flavors: { sklearn: { sklearn_version: "1.4" } } };
    await ok(post("mlflow/runs/log-model", { run_id: kept, model_json: JSON.stringify(model) }));
    await ok(post("mlflow/runs/log-model", { run_id: kept, model_json: JSON.stringify({ ...model, artifact_path: "model2" }) }));
    const input = { tags: [{ key: "mlflow.data.context", value: "training" }], dataset: { name: "iris", digest: "abc123", source_type: "local", source: '{"uri": "iris.csv"}' } };
    await ok(post("mlflow/runs/log-inputs", { run_id: kept, datasets: [input] }));
    await ok(post("mlflow/runs/log-inputs", { run_id: kept, datasets: [input] })); // logged again: shown once
    const run = (await ok(get("mlflow/runs/get", { run_id: kept }))).run;
    const history = JSON.parse(run.data.tags.find((t: { key: string }) => t.key === "mlflow.log-model.history").value) as { artifact_path: string }[];
    expect(history.map((m) => m.artifact_path)).toEqual(["model", "model2"]);
    expect(run.inputs).toEqual({ dataset_inputs: [input] });
    const badModel = await post("mlflow/runs/log-model", { run_id: kept, model_json: "not json" });
    expect([badModel.status, badModel.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
  });

  it("keeps MLflow 3's logged models: created from a run, files of their own, finalized, searched, linked metrics stored once, deleted", async () => {
    const experimentId = await newExperiment();
    const runId = await newRun(experimentId);
    await ok(post("mlflow/runs/log-metric", { run_id: runId, key: "acc", value: 0.9, timestamp: 1_700_000_000_000, step: 0 }));
    // The calls of MLflow 3's log_model, in its order.
    const created = (await ok(post("mlflow/logged-models", { experiment_id: experimentId, name: "model", model_type: "sklearn", source_run_id: runId, params: [{ key: "C", value: "1" }], tags: [{ key: "t", value: "v" }] }))).model;
    const modelId = created.info.model_id as string;
    expect(created.info).toMatchObject({ experiment_id: experimentId, name: "model", status: "LOGGED_MODEL_PENDING", source_run_id: runId, artifact_uri: `mlflow-artifacts:/${experimentId}/models/${modelId}/artifacts` });
    await ok(post("mlflow/runs/outputs", { run_id: runId, models: [{ model_id: modelId, step: 0 }] }));
    await ok(post("mlflow/runs/log-batch", { run_id: runId, metrics: [{ key: "acc", value: 0.9, timestamp: 1_700_000_000_000, step: 0, model_id: modelId }] }));
    const file = (path: string) => new URL(`/api/2.0/mlflow-artifacts/artifacts/${experimentId}/models/${modelId}/artifacts/${path}`, server.url);
    const weights = randomBytes(5000);
    expect((await fetch(file("MLmodel"), { method: "PUT", body: "flavors: {}\n" })).status).toBe(200);
    expect((await fetch(file("model.pkl"), { method: "PUT", body: weights })).status).toBe(200);
    const patch = (path: string, body: Body, method = "PATCH") => fetch(api(`mlflow/logged-models/${path}`), { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    expect((await patch(modelId, { model_id: modelId, status: "LOGGED_MODEL_READY" })).status).toBe(200);
    await ok(patch(`${modelId}/tags`, { model_id: modelId, tags: [{ key: "stage", value: "dev" }] }).then(async (r) => ({ status: r.status, body: (await r.json()) as Body })));
    expect((await patch(`${modelId}/tags/t`, {}, "DELETE")).status).toBe(200);

    const model = (await ok(get(`mlflow/logged-models/${modelId}`))).model;
    expect(model.info).toMatchObject({ status: "LOGGED_MODEL_READY", tags: [{ key: "stage", value: "dev" }] });
    expect(model.data).toEqual({ params: [{ key: "C", value: "1" }], metrics: [{ key: "acc", value: 0.9, timestamp: 1_700_000_000_000, step: 0, run_id: runId, model_id: modelId }] });
    expect((await ok(get("mlflow/metrics/get-history", { run_id: runId, metric_key: "acc" }))).metrics).toHaveLength(1); // the run's point, not logged twice
    expect((await ok(get("mlflow/runs/get", { run_id: runId }))).run.outputs).toEqual({ model_outputs: [{ model_id: modelId, step: 0 }] });
    const search = async (filter: string) => ((await ok(post("mlflow/logged-models/search", { experiment_ids: [experimentId], filter }))).models ?? []).map((m: { info: { model_id: string } }) => m.info.model_id);
    expect(await search("name = 'model'")).toEqual([modelId]);
    expect(await search("params.C = '1' AND status = 'READY' AND source_run_id = '" + runId + "'")).toEqual([modelId]);
    expect(await search("name = 'other'")).toEqual([]);
    expect(await ok(get("mlflow-artifacts/artifacts", { path: `${experimentId}/models/${modelId}/artifacts` }))).toEqual({
      files: [{ path: "MLmodel", is_dir: false, file_size: 12 }, { path: "model.pkl", is_dir: false, file_size: 5000 }],
    });
    expect(Buffer.from(await (await fetch(file("model.pkl"))).arrayBuffer()).equals(weights)).toBe(true);
    expect((await ok(get(`mlflow/logged-models/${modelId}/artifacts/directories`))).files).toHaveLength(2);

    expect((await patch(modelId, {}, "DELETE")).status).toBe(200);
    const gone = await get(`mlflow/logged-models/${modelId}`);
    expect([gone.status, gone.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect((await patch(modelId, { status: "LOGGED_MODEL_READY" })).status).toBe(404);
    expect((await patch(modelId, { status: "DONE" })).status).toBe(400);
  });

  it("creates, finds, renames, tags and deletes experiments by MLflow's names, and keeps experiment 0 (Default)", async () => {
    const name = unique("fraud");
    const experimentId = await newExperiment(name);
    expect(experimentId).toBe(name); // a name Kiln takes as an id is the id
    const again = await post("mlflow/experiments/create", { name });
    expect([again.status, again.body.error_code]).toEqual([400, "RESOURCE_ALREADY_EXISTS"]);
    await ok(post("mlflow/experiments/set-experiment-tag", { experiment_id: experimentId, key: "team", value: "risk" }));
    const renamed = `${name} (v2)`;
    await ok(post("mlflow/experiments/update", { experiment_id: experimentId, new_name: renamed }));
    expect((await ok(get("mlflow/experiments/get-by-name", { experiment_name: renamed }))).experiment).toMatchObject({ experiment_id: experimentId, name: renamed, tags: [{ key: "team", value: "risk" }] });
    expect((await get("mlflow/experiments/get-by-name", { experiment_name: name })).status).toBe(404);
    // The old name is free again: a new experiment takes it under another id.
    const reused = await newExperiment(name);
    expect(reused).not.toBe(experimentId);
    const found = await ok(post("mlflow/experiments/search", { max_results: 1000, filter: `tags.team = 'risk' AND name LIKE '${name}%'` }));
    expect(found.experiments.map((e: { name: string }) => e.name)).toEqual([renamed]);
    const byName = await ok(get("mlflow/experiments/search", { max_results: "1000", order_by: "name ASC", filter: `name LIKE '${name}%'` }));
    expect(byName.experiments.map((e: { experiment_id: string }) => e.experiment_id)).toEqual([reused, experimentId]);
    await ok(post("mlflow/experiments/delete", { experiment_id: experimentId }));
    expect((await ok(get("mlflow/experiments/get", { experiment_id: experimentId }))).experiment.lifecycle_stage).toBe("deleted");
    await server.kiln.experiments.drop(experimentId); // for good, as `mlflow gc` does
    expect((await get("mlflow/experiments/get", { experiment_id: experimentId })).status).toBe(404);
    expect((await ok(get("mlflow/experiments/get", { experiment_id: "0" }))).experiment).toMatchObject({ experiment_id: "0", name: "Default" });
    const runId = (await ok(post("mlflow/runs/create", { start_time: Date.now() }))).run.info.run_id; // no experiment: MLflow's default
    expect(runId).toBe(`0-r${(await server.kiln.experiment("0").runs()).length}`);
    const keep = await post("mlflow/experiments/delete", { experiment_id: "0" });
    expect([keep.status, keep.body.message]).toEqual([400, "Cannot delete the default experiment '0'."]);
  });

  it("deletes an experiment as MLflow's server does: kept with its runs, shown as deleted, closed to new runs and tags, and restored whole", async () => {
    const name = unique("sweep");
    const experimentId = await newExperiment(name);
    const [kept, dropped] = [await newRun(experimentId), await newRun(experimentId)];
    await ok(post("mlflow/runs/log-metric", { run_id: kept, key: "acc", value: 0.9, timestamp: Date.now(), step: 1 }));
    const artifact = new URL(`/api/2.0/mlflow-artifacts/artifacts/${experimentId}/${kept}/artifacts/notes.txt`, server.url);
    expect((await fetch(artifact, { method: "PUT", body: "kept" })).status).toBe(200);
    await ok(post("mlflow/runs/delete", { run_id: dropped })); // deleted on its own, before its experiment
    const before = Date.now();
    await ok(post("mlflow/experiments/delete", { experiment_id: experimentId }));

    const deleted = (await ok(get("mlflow/experiments/get", { experiment_id: experimentId }))).experiment;
    expect(deleted).toMatchObject({ name, lifecycle_stage: "deleted" });
    expect(deleted.last_update_time).toBeGreaterThanOrEqual(before);
    expect((await ok(get("mlflow/experiments/get-by-name", { experiment_name: name }))).experiment.lifecycle_stage).toBe("deleted");
    const listed = async (view_type?: string) =>
      ((await ok(post("mlflow/experiments/search", { max_results: 1000, filter: `name = '${name}'`, ...(view_type && { view_type }) }))).experiments ?? []).map((e: { experiment_id: string }) => e.experiment_id);
    expect([await listed(), await listed("DELETED_ONLY"), await listed("ALL")]).toEqual([[], [experimentId], [experimentId]]);
    const runsIn = async (run_view_type?: string) =>
      ((await ok(post("mlflow/runs/search", { experiment_ids: [experimentId], ...(run_view_type && { run_view_type }) }))).runs ?? []).map((r: { info: { run_id: string } }) => r.info.run_id).sort();
    expect([await runsIn(), await runsIn("DELETED_ONLY"), await runsIn("ALL")]).toEqual([[], [kept, dropped].sort(), [kept, dropped].sort()]);
    expect((await ok(get("mlflow/runs/get", { run_id: kept }))).run).toMatchObject({ info: { lifecycle_stage: "deleted" }, data: { metrics: [{ key: "acc", value: 0.9 }] } });
    expect(await (await fetch(artifact)).text()).toBe("kept");
    expect((await server.kiln.experiments.list()).find((e) => e.name.endsWith(`/${experimentId}`))?.deleteTime?.getTime()).toBeGreaterThanOrEqual(before);
    expect((await cli(() => server.url).kiln("experiments", "--filter", `name = "${experimentId}"`)).split("\n")[1]).toMatch(new RegExp(`^${experimentId} .* in MLflow$`));

    // What MLflow's server refuses in a deleted experiment, each with its words, changing nothing.
    const notActive = `The experiment ${experimentId} must be in the 'active' state. Current state is deleted.`;
    const refusals = await Promise.all([
      post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now() }),
      post("mlflow/experiments/set-experiment-tag", { experiment_id: experimentId, key: "team", value: "risk" }),
      post("mlflow/logged-models", { experiment_id: experimentId, name: "model" }),
      post("mlflow/runs/log-metric", { run_id: kept, key: "acc", value: 0.1, timestamp: Date.now(), step: 2 }),
      post("mlflow/experiments/update", { experiment_id: experimentId, new_name: `${name}-2` }),
      post("mlflow/experiments/create", { name }),
      post("mlflow/experiments/delete", { experiment_id: experimentId }),
    ]);
    expect(refusals.map((r) => [r.status, r.body.message])).toEqual([
      [400, notActive],
      [400, notActive],
      [400, notActive],
      [400, `The run ${kept} must be in the 'active' state. Current state is deleted.`],
      [400, "Cannot rename a non-active experiment."],
      [400, `Experiment(name=${name}) already exists.`],
      [404, `No Experiment with id=${experimentId} exists`],
    ]);
    expect((await server.kiln.experiment(experimentId).runs()).length).toBe(2);

    // Restored: the experiment and the runs it took with it; a run deleted on its own before stays deleted (MLflow's restore would bring it back too).
    await ok(post("mlflow/experiments/restore", { experiment_id: experimentId }));
    const again = await post("mlflow/experiments/restore", { experiment_id: experimentId });
    expect([again.status, again.body.error_code, again.body.message]).toEqual([404, "RESOURCE_DOES_NOT_EXIST", `No Experiment with id=${experimentId} exists`]);
    expect((await ok(get("mlflow/experiments/get", { experiment_id: experimentId }))).experiment.lifecycle_stage).toBe("active");
    expect([await listed(), await runsIn(), await runsIn("DELETED_ONLY")]).toEqual([[experimentId], [kept], [dropped]]);
    await ok(post("mlflow/runs/log-metric", { run_id: kept, key: "acc", value: 0.95, timestamp: Date.now(), step: 2 }));
    await newRun(experimentId);
    expect((await server.kiln.experiments.list()).find((e) => e.name.endsWith(`/${experimentId}`))?.deleteTime).toBeUndefined();
  });

  it("stores and serves proxied artifacts of any size, lists them as folders, and refuses paths out of the run", async () => {
    const experimentId = await newExperiment();
    const runId = await newRun(experimentId);
    const root = `${experimentId}/${runId}/artifacts`;
    const file = (path: string) => new URL(`/api/2.0/mlflow-artifacts/artifacts/${root}/${path}`, server.url);
    const big = randomBytes(9 * 1024 * 1024 + 17); // three pieces of the 4 MiB the server stores
    // A client that tries a multipart upload first (MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD) is told, in MLflow's words, to send one PUT.
    for (const step of ["create", "complete", "abort"]) {
      const multipart = await post(`mlflow-artifacts/mpu/${step}/${root}/model`, { path: "/tmp/weights.bin", num_parts: 3 });
      expect([multipart.status, multipart.body]).toEqual([501, { error_code: "NOT_IMPLEMENTED", message: "Multipart upload is not supported for the current artifact repository" }]);
    }
    expect((await fetch(file("model/weights.bin"), { method: "PUT", body: big })).status).toBe(200);
    expect((await fetch(file("model/MLmodel"), { method: "PUT", body: "flavors: {}\n" })).status).toBe(200);
    expect((await fetch(file("notes%20v1.txt"), { method: "PUT", body: "first" })).status).toBe(200);
    expect((await fetch(file("notes%20v1.txt"), { method: "PUT", body: "second" })).status).toBe(200); // the last upload wins
    const back = await fetch(file("model/weights.bin"));
    expect(back.headers.get("content-length")).toBe(String(big.length));
    const bytes = Buffer.from(await back.arrayBuffer());
    expect(createHash("sha256").update(bytes).digest("hex")).toBe(createHash("sha256").update(big).digest("hex"));
    expect(await (await fetch(file("notes%20v1.txt"))).text()).toBe("second");
    const list = async (path: string) => ok(get("mlflow-artifacts/artifacts", { path }));
    expect(await list(root)).toEqual({ files: [{ path: "model", is_dir: true }, { path: "notes v1.txt", is_dir: false, file_size: 6 }] });
    expect(await list(`${root}/model`)).toEqual({ files: [{ path: "MLmodel", is_dir: false, file_size: 12 }, { path: "weights.bin", is_dir: false, file_size: big.length }] });
    expect(await list(`${root}/model/MLmodel`)).toEqual({}); // a file's own path lists nothing: the client reads that as "not a folder"
    const escape = await fetch(file("model/../../other/x"), { method: "PUT", body: "x" });
    expect(escape.status).toBe(400);
    const elsewhere = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/0/${runId}/artifacts/x`, server.url), { method: "PUT", body: "x" });
    expect(elsewhere.status).toBe(404);
    expect((await fetch(file("missing.txt"))).status).toBe(404);
  });

  it("serves each project under /projects/{p}/api/2.0 and answers unknown endpoints and bad bodies in MLflow's error form", async () => {
    const name = unique("scoped");
    const experimentId = (await ok(post("mlflow/experiments/create", { name }, "fraud"))).experiment_id;
    expect((await ok(get("mlflow/experiments/get-by-name", { experiment_name: name }, "fraud"))).experiment.experiment_id).toBe(experimentId);
    expect((await get("mlflow/experiments/get-by-name", { experiment_name: name })).status).toBe(404);
    expect((await server.kiln.experiment(`projects/fraud/experiments/${experimentId}`).runs())).toEqual([]);
    const unknown = await get("mlflow/runs/list-everything");
    expect([unknown.status, unknown.body.error_code]).toEqual([404, "ENDPOINT_NOT_FOUND"]);
    const notJson = await fetch(api("mlflow/runs/create"), { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect([notJson.status, ((await notJson.json()) as Body).error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    const missing = await post("mlflow/experiments/create", {});
    expect(missing.body).toEqual({ error_code: "INVALID_PARAMETER_VALUE", message: "Missing value for required parameter 'name'." });
    for (const project of ["bad%zz", "..x"]) {
      const badProject = await get("mlflow/experiments/get", { experiment_id: "0" }, project);
      expect([badProject.status, badProject.body.error_code], project).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    }
    const badRun = await get("mlflow/runs/get", { run_id: "no-such-run" });
    expect([badRun.status, badRun.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
  });
});
