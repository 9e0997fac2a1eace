import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { linearRegressorOnnx } from "@kiln/onnx";
import { embeddedServer } from "./embedded-server.js";
import { unique } from "./helpers.js";
import { mlflowRest } from "./mlflow-rest.js";

const run = promisify(execFile);

const SKLEARN_MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n    pickled_model: model.pkl\n  sklearn:\n    pickled_model: model.pkl\n    serialization_format: cloudpickle\nmlflow_version: 2.7.1\n";
const ONNX_MLMODEL = "artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.14.0\n  python_function:\n    data: model.onnx\n    loader_module: mlflow.onnx\nmlflow_version: 2.7.1\n";

/**
 * MLflow's model registry API (registered models and model versions) as MLflow's clients
 * call it, kept in Kiln's registry: what MLflow registers, Kiln's SDK reads, and the other way.
 */
describe("MLflow's model registry API on an embedded server", () => {
  const server = embeddedServer("mlflow-registry");
  const { get, send, post, ok, putArtifact } = mlflowRest(() => server.url);
  const patch = (path: string, body: Record<string, unknown>) => send("PATCH", path, body);
  const del = (path: string, body: Record<string, unknown>) => send("DELETE", path, body);

  /** A run that logged an MLflow model's folder under `model/`: its id and artifact URI. */
  async function runWithModel(files: Record<string, Uint8Array | string>): Promise<{ runId: string; artifactUri: string }> {
    const experimentId = (await ok(post("mlflow/experiments/create", { name: unique("registry runs") }))).experiment_id as string;
    const info = (await ok(post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now() }))).run.info;
    for (const [path, body] of Object.entries(files)) await putArtifact(info.artifact_uri, `model/${path}`, body);
    return { runId: info.run_id, artifactUri: info.artifact_uri };
  }

  async function untar(file: string, into: string): Promise<string[]> {
    await mkdir(into, { recursive: true });
    await run("tar", ["-xf", file, "-C", into]);
    return (await run("tar", ["-tf", file])).stdout.trim().split("\n").sort();
  }

  it("registers a run's model as log_model(registered_model_name=…) does, and Kiln keeps its folder as a version of format mlflow", async () => {
    const pickle = randomBytes(5 * 1024 * 1024 + 17);
    const { runId, artifactUri } = await runWithModel({ MLmodel: SKLEARN_MLMODEL, "model.pkl": pickle, "metadata/conda.yaml": "name: mlflow-env\n" });
    const name = unique("Churn classifier");
    const created = (await ok(post("mlflow/registered-models/create", { name, description: "churn", tags: [{ key: "team", value: "risk" }] }))).registered_model;
    expect(created).toMatchObject({ name, description: "churn", latest_versions: [], tags: [{ key: "team", value: "risk" }], aliases: [] });
    // register_model creates the model first and goes on when it exists.
    const again = await post("mlflow/registered-models/create", { name });
    expect([again.status, again.body.error_code, again.body.message]).toEqual([400, "RESOURCE_ALREADY_EXISTS", `Registered Model (name=${name}) already exists.`]);

    const source = `${artifactUri}/model`;
    const version = (await ok(post("mlflow/model-versions/create", { name, source, run_id: runId, description: "first fit", tags: [{ key: "validated", value: "no" }] }))).model_version;
    expect(version).toMatchObject({ name, version: "1", source, run_id: runId, status: "READY", current_stage: "None", description: "first fit", tags: [{ key: "validated", value: "no" }], aliases: [] });
    expect((await ok(get("mlflow/model-versions/get", { name, version: "1" }))).model_version).toEqual(version);
    expect((await ok(get("mlflow/model-versions/get-download-uri", { name, version: "1" }))).artifact_uri).toBe(source);

    // Kiln's side: a model with an id made from the name, its version's file the folder as a tar.
    const [model] = await server.kiln.models.list({ filter: `labels.mlflow.name = ${JSON.stringify(name)}` });
    expect(model).toMatchObject({ id: expect.stringMatching(/^churn-classifier-[0-9a-f]{8}-[0-9a-f]{8}$/), description: "churn", labels: { team: "risk", "mlflow.name": name }, latestVersion: 1 });
    const kept = await server.kiln.models.get(`${model!.id}:1`);
    expect(kept).toMatchObject({ format: "mlflow", runnable: false, fileName: "mlflow-model.tar", mediaType: "application/x-tar", comment: "first fit", metadata: { validated: "no", mlflow: { source, run_id: runId, stage: "None", status: "READY" } } });
    expect(kept.lineage?.run).toMatch(/^projects\/default\/experiments\/.+\/runs\/1$/);
    const downloaded = await server.kiln.models.download(`${model!.id}:1`, join(server.dir, "sk"));
    expect(await untar(downloaded.model, join(server.dir, "sk-folder"))).toEqual(["MLmodel", "metadata/conda.yaml", "model.pkl"]);
    expect((await readFile(join(server.dir, "sk-folder", "model.pkl"))).equals(pickle)).toBe(true);
    expect(await readFile(join(server.dir, "sk-folder", "MLmodel"), "utf8")).toBe(SKLEARN_MLMODEL);
  });

  it("registers a model with an ONNX flavor as an ONNX version Kiln runs, its folder attached, and an alias is a Kiln tag", async () => {
    const onnx = linearRegressorOnnx([0.5, -1, 2], 0.25);
    const { runId } = await runWithModel({ MLmodel: ONNX_MLMODEL, "model.onnx": onnx, "requirements.txt": "onnx\n" });
    const name = unique("iris-onnx");
    await ok(post("mlflow/registered-models/create", { name }));
    const version = (await ok(post("mlflow/model-versions/create", { name, source: `runs:/${runId}/model`, run_id: runId }))).model_version;
    expect(version).toMatchObject({ version: "1", source: `runs:/${runId}/model`, run_id: runId, status: "READY" });

    // A name that is an id is the model's id: Kiln's runtime and CLI name it as MLflow does.
    const kept = await server.kiln.models.get(`${name}:1`);
    expect(kept).toMatchObject({ format: "onnx", runnable: true, fileName: "model.onnx", size: onnx.length, attachments: [{ name: "mlflow-model.tar" }] });
    expect(kept.signature?.inputs[0]).toMatchObject({ name: "X", type: "tensor(float32)[N,3]" });
    const downloaded = await server.kiln.models.download(`${name}:1`, join(server.dir, "onnx"));
    expect((await readFile(downloaded.model)).equals(Buffer.from(onnx))).toBe(true);
    expect(await untar(downloaded.attachments[0]!, join(server.dir, "onnx-folder"))).toEqual(["MLmodel", "model.onnx", "requirements.txt"]);

    await ok(post("mlflow/registered-models/alias", { name, alias: "champion", version: "1" }));
    expect((await server.kiln.models.info(name)).tags).toEqual({ champion: 1 });
    expect((await server.kiln.models.get(`${name}:champion`)).version).toBe(1);
    // Kiln's runtime predicts with it by the alias: y = 0.5a - b + 2c + 0.25.
    const predicted = await (await server.kiln.runtime.model(`${name}:champion`).predict([{ a: 1, b: 1, c: 1 }, { a: 0, b: 2, c: 4 }])).get();
    expect(Array.from(predicted.getChild("prediction")!.toArray() as Float32Array)).toEqual([1.75, 6.25]);
    expect((await ok(get("mlflow/registered-models/alias", { name, alias: "champion" }))).model_version).toMatchObject({ version: "1", aliases: ["champion"] });
    // A tag set through Kiln is an alias to MLflow.
    await server.kiln.models.tag(`${name}:1`, "prod");
    expect((await ok(get("mlflow/registered-models/get", { name }))).registered_model.aliases).toEqual([
      { alias: "champion", version: "1" },
      { alias: "prod", version: "1" },
    ]);
    await ok(send("DELETE", "mlflow/registered-models/alias", { name, alias: "prod" }));
    const gone = await get("mlflow/registered-models/alias", { name, alias: "prod" });
    expect([gone.status, gone.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    await ok(send("DELETE", "mlflow/registered-models/alias", { name, alias: "prod" })); // gone already: no error, as MLflow's
    for (const alias of ["latest", "3", "v3"]) {
      const reserved = await post("mlflow/registered-models/alias", { name, alias, version: "1" });
      expect([reserved.status, reserved.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    }

    // Served by a deployment, neither the version nor the registered model can be deleted through MLflow either.
    const deployment = unique("served");
    await server.kiln.deployments.create(deployment, { model: `${name}:champion` }, { wait: false });
    for (const [path, body] of [["mlflow/model-versions/delete", { name, version: "1" }], ["mlflow/registered-models/delete", { name }]] as const) {
      const refused = await del(path, body);
      expect([refused.status, refused.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      expect(refused.body.message).toMatch(new RegExp(`in use.* projects/default/deployments/${deployment}`));
    }
    await server.kiln.deployments.delete(deployment);
    await ok(del("mlflow/model-versions/delete", { name, version: "1" }));
  });

  it("copies a registered version to another model (copy_model_version's models:/ source), file and attachments byte for byte", async () => {
    const { runId } = await runWithModel({ MLmodel: ONNX_MLMODEL, "model.onnx": linearRegressorOnnx([1, 2, 3], 0), "requirements.txt": "onnx\n" });
    const from = unique("dev-model");
    await ok(post("mlflow/registered-models/create", { name: from }));
    await ok(post("mlflow/model-versions/create", { name: from, source: `runs:/${runId}/model`, run_id: runId }));
    await ok(post("mlflow/registered-models/alias", { name: from, alias: "champion", version: "1" }));
    await ok(post("mlflow/model-versions/transition-stage", { name: from, version: "1", stage: "Staging", archive_existing_versions: false }));

    const to = unique("prod-model");
    await ok(post("mlflow/registered-models/create", { name: to }));
    for (const [i, source] of [`models:/${from}/1`, `models:/${from}@champion`, `models:/${from}/Staging`, `models:/${from}/latest`].entries()) {
      const copy = (await ok(post("mlflow/model-versions/create", { name: to, source, description: "promoted" }))).model_version;
      expect(copy).toMatchObject({ name: to, version: String(i + 1), source, run_id: runId, description: "promoted", current_stage: "None", status: "READY" });
    }
    const original = await server.kiln.models.get(`${from}:1`);
    const copied = await server.kiln.models.get(`${to}:2`);
    expect(copied).toMatchObject({ format: "onnx", runnable: true, fileName: original.fileName, sha256: original.sha256, lineage: { parentVersion: `projects/default/models/${from}/versions/1`, run: original.lineage!.run } });
    expect(copied.attachments.map((a) => [a.name, a.sha256])).toEqual(original.attachments.map((a) => [a.name, a.sha256]));
    expect((await ok(get("mlflow/model-versions/get-download-uri", { name: to, version: "2" }))).artifact_uri).toBe(`models:/${from}@champion`);

    const none = await post("mlflow/model-versions/create", { name: to, source: `models:/${from}/Production` });
    expect([none.status, none.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    const unknown = await post("mlflow/model-versions/create", { name: to, source: `models:/${unique("nothing")}/1` });
    expect([unknown.status, unknown.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect((await server.kiln.models.info(to)).latestVersion).toBe(4);
  });

  it("keeps stages, tags, descriptions and names as MLflow does, and searches models and versions", async () => {
    const { runId, artifactUri } = await runWithModel({ MLmodel: SKLEARN_MLMODEL, "model.pkl": "p" });
    const name = unique("Stage model");
    await ok(post("mlflow/registered-models/create", { name }));
    for (let i = 0; i < 3; i++) await ok(post("mlflow/model-versions/create", { name, source: `${artifactUri}/model`, run_id: runId }));

    await ok(post("mlflow/model-versions/transition-stage", { name, version: "1", stage: "production", archive_existing_versions: false }));
    await ok(post("mlflow/model-versions/transition-stage", { name, version: "2", stage: "Staging", archive_existing_versions: false }));
    const moved = (await ok(post("mlflow/model-versions/transition-stage", { name, version: "3", stage: "Production", archive_existing_versions: true }))).model_version;
    expect(moved).toMatchObject({ version: "3", current_stage: "Production" });
    const stages = async () => Object.fromEntries(((await ok(get("mlflow/model-versions/search", { filter: `name = '${name}'` }))).model_versions as { version: string; current_stage: string }[]).map((v) => [v.version, v.current_stage]));
    expect(await stages()).toEqual({ "1": "Archived", "2": "Staging", "3": "Production" });
    const latest = (await ok(post("mlflow/registered-models/get-latest-versions", { name, stages: ["Production", "Staging"] }))).model_versions;
    expect(latest.map((v: { version: string }) => v.version)).toEqual(["3", "2"]);
    expect((await ok(get("mlflow/registered-models/get", { name }))).registered_model.latest_versions.map((v: { version: string }) => v.version)).toEqual(["2", "3", "1"]);
    const badStage = await post("mlflow/model-versions/transition-stage", { name, version: "1", stage: "Shipped", archive_existing_versions: false });
    expect([badStage.status, badStage.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);

    await ok(post("mlflow/model-versions/set-tag", { name, version: "2", key: "validated", value: "yes" }));
    await ok(post("mlflow/model-versions/set-tag", { name, version: "2", key: "owner", value: "ann" }));
    await ok(del("mlflow/model-versions/delete-tag", { name, version: "2", key: "owner" }));
    await ok(patch("mlflow/model-versions/update", { name, version: "2", description: "candidate" }));
    await ok(post("mlflow/registered-models/set-tag", { name, key: "team", value: "risk" }));
    await ok(post("mlflow/registered-models/set-tag", { name, key: "drop", value: "me" }));
    await ok(del("mlflow/registered-models/delete-tag", { name, key: "drop" }));
    await ok(patch("mlflow/registered-models/update", { name, description: "stages" }));
    expect((await ok(get("mlflow/model-versions/get", { name, version: "2" }))).model_version).toMatchObject({ tags: [{ key: "validated", value: "yes" }], description: "candidate" });
    const reserved = await post("mlflow/model-versions/set-tag", { name, version: "2", key: "mlflow", value: "x" });
    expect([reserved.status, reserved.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);

    // Searches, with the prompt filter MLflow 3's clients add to each.
    const prompts = "tags.`mlflow.prompt.is_prompt` != 'true'";
    const models = async (filter: string) => ((await ok(get("mlflow/registered-models/search", { filter, max_results: "100" }))).registered_models as { name: string }[]).map((m) => m.name);
    expect(await models(`name = '${name}' AND ${prompts}`)).toEqual([name]);
    expect(await models(`name LIKE '${name.slice(0, 10)}%' AND tags.team = 'risk'`)).toEqual([name]);
    expect(await models(`name = '${name}' AND tags.\`mlflow.prompt.is_prompt\` = 'true'`)).toEqual([]);
    const versions = async (filter: string) => ((await ok(get("mlflow/model-versions/search", { filter }))).model_versions as { version: string }[]).map((v) => v.version);
    expect(await versions(`name = '${name}' AND tags.validated = 'yes'`)).toEqual(["2"]);
    expect(await versions(`run_id = '${runId}'`)).toEqual(["3", "2", "1"]);
    expect(await versions(`name = '${name}' AND version_number >= 2`)).toEqual(["3", "2"]);
    const page1 = await ok(get("mlflow/model-versions/search", { filter: `name = '${name}'`, max_results: "2" }));
    const page2 = await ok(get("mlflow/model-versions/search", { filter: `name = '${name}'`, max_results: "2", page_token: page1.next_page_token }));
    expect([...page1.model_versions, ...page2.model_versions].map((v: { version: string }) => v.version)).toEqual(["3", "2", "1"]);
    const badFilter = await get("mlflow/registered-models/search", { filter: "metrics.acc > 1" });
    expect([badFilter.status, badFilter.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);

    // delete_model_version: the number is not given again.
    await ok(del("mlflow/model-versions/delete", { name, version: "1" }));
    const deleted = await get("mlflow/model-versions/get", { name, version: "1" });
    expect([deleted.status, deleted.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect((await ok(post("mlflow/model-versions/create", { name, source: `${artifactUri}/model`, run_id: runId }))).model_version.version).toBe("4");
    expect(await versions(`name = '${name}'`)).toEqual(["4", "3", "2"]);

    // Rename keeps the Kiln model (and its id); the new name is the one MLflow finds.
    const renamed = unique("Renamed model");
    expect((await ok(post("mlflow/registered-models/rename", { name, new_name: renamed }))).registered_model).toMatchObject({ name: renamed, description: "stages", tags: [{ key: "team", value: "risk" }] });
    const old = await get("mlflow/registered-models/get", { name });
    expect([old.status, old.body.error_code]).toEqual([404, "RESOURCE_DOES_NOT_EXIST"]);
    expect((await ok(get("mlflow/model-versions/get", { name: renamed, version: "3" }))).model_version).toMatchObject({ name: renamed, current_stage: "Production" });
    await ok(del("mlflow/registered-models/delete", { name: renamed }));
    expect(await server.kiln.models.list({ filter: `labels.mlflow.name = ${JSON.stringify(renamed)}` })).toEqual([]);
  });

  it("keeps MLflow 3's prompts (register_prompt, load_prompt, search_prompts) as Kiln versions whose file is the template", async () => {
    const name = unique("greeting");
    const isPrompt = { key: "mlflow.prompt.is_prompt", value: "true" };
    // The requests MLflow 3.6's register_prompt sends: a registered model tagged a prompt, then versions whose tags hold the template.
    await ok(post("mlflow/registered-models/create", { name, tags: [isPrompt] }));
    const text = (template: string) => [isPrompt, { key: "_mlflow_prompt_type", value: "text" }, { key: "mlflow.prompt.text", value: template }];
    await ok(post("mlflow/model-versions/create", { name, source: "dummy-source", description: "first", tags: [{ key: "author", value: "ana" }, ...text("Respond as a {{style}} AI.")] }));
    const messages = [{ role: "system", content: "You are {{style}}." }, { role: "user", content: "{{question}}" }];
    const chat = [isPrompt, { key: "_mlflow_prompt_type", value: "chat" }, { key: "mlflow.prompt.text", value: JSON.stringify(messages) }];
    await ok(post("mlflow/model-versions/create", { name, source: "prompt-template", tags: chat }));

    // What load_prompt reads: the version's tags, by number and by "latest".
    const first = (await ok(get("mlflow/model-versions/get", { name, version: "1" }))).model_version;
    expect(first).toMatchObject({ version: "1", description: "first", status: "READY", source: "dummy-source" });
    expect(Object.fromEntries(first.tags.map((t: { key: string; value: string }) => [t.key, t.value]))).toMatchObject({ "mlflow.prompt.text": "Respond as a {{style}} AI.", author: "ana" });
    expect((await ok(get("mlflow/registered-models/alias", { name, alias: "latest" }))).model_version).toMatchObject({ version: "2" });
    // Kiln keeps each as a version whose file is the template.
    expect(await server.kiln.models.get(`${name}:1`)).toMatchObject({ format: "mlflow-prompt", runnable: false, fileName: "prompt.txt", comment: "first" });
    const downloaded = await server.kiln.models.download(`${name}:2`, join(server.dir, "prompt"));
    expect(downloaded.model.endsWith("prompt.json")).toBe(true);
    expect(JSON.parse(await readFile(downloaded.model, "utf8"))).toEqual(messages);

    // search_prompts asks for the tag; search_registered_models leaves prompts out.
    const prompts = (await ok(get("mlflow/registered-models/search", { filter: `tags.\`mlflow.prompt.is_prompt\` = 'true' AND name = '${name}'` }))).registered_models;
    expect(prompts.map((m: { name: string }) => m.name)).toEqual([name]);
    const models = (await ok(get("mlflow/registered-models/search", { filter: "tag.`mlflow.prompt.is_prompt` != 'true'", max_results: "1000" }))).registered_models ?? [];
    expect(models.map((m: { name: string }) => m.name)).not.toContain(name);

    // A template of MLflow 3's 100,000 characters is kept; one more, or none, is refused and stores nothing.
    await ok(post("mlflow/model-versions/create", { name, source: "dummy-source", tags: text("x".repeat(100_000)) }));
    for (const tags of [text("x".repeat(100_001)), [isPrompt]]) {
      const refused = await post("mlflow/model-versions/create", { name, source: "dummy-source", tags });
      expect([refused.status, refused.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
    }
    expect((await server.kiln.models.info(name)).latestVersion).toBe(3);
  });

  it("registers MLflow 3's logged model (models:/m-…) and points downloads at its artifacts", async () => {
    const experimentId = (await ok(post("mlflow/experiments/create", { name: unique("logged") }))).experiment_id as string;
    const model = (await ok(post("mlflow/logged-models", { experiment_id: experimentId, name: "model" }))).model.info;
    await putArtifact(model.artifact_uri, "MLmodel", SKLEARN_MLMODEL);
    await putArtifact(model.artifact_uri, "model.pkl", "pickled");
    const name = unique("logged");
    await ok(post("mlflow/registered-models/create", { name }));
    const version = (await ok(post("mlflow/model-versions/create", { name, source: `models:/${model.model_id}`, model_id: model.model_id }))).model_version;
    expect(version).toMatchObject({ version: "1", source: `models:/${model.model_id}`, status: "READY" });
    expect((await ok(get("mlflow/model-versions/get-download-uri", { name, version: "1" }))).artifact_uri).toBe(model.artifact_uri);
    const downloaded = await server.kiln.models.download(`${name}:1`, join(server.dir, "logged"));
    expect(await untar(downloaded.model, join(server.dir, "logged-folder"))).toEqual(["MLmodel", "model.pkl"]);
  });

  it("shows a version stored through Kiln to MLflow, and refuses what it cannot register without changing anything", async () => {
    const name = unique("kiln-native");
    await server.kiln.models.put(name, linearRegressorOnnx([1], 0), { metadata: { accuracy: 0.9, owner: "ann" }, comment: "from Kiln" });
    const model = (await ok(get("mlflow/registered-models/get", { name }))).registered_model;
    expect(model.latest_versions).toEqual([expect.objectContaining({ version: "1", current_stage: "None", status: "READY", description: "from Kiln", source: "", tags: [{ key: "accuracy", value: "0.9" }, { key: "owner", value: "ann" }] })]);
    const uri = await get("mlflow/model-versions/get-download-uri", { name, version: "1" });
    expect([uri.status, uri.body.error_code, uri.body.message]).toEqual([400, "INVALID_PARAMETER_VALUE", expect.stringContaining(`kiln models:download ${name}:1`)]);

    const { runId, artifactUri } = await runWithModel({ MLmodel: SKLEARN_MLMODEL });
    const refusals: [Promise<{ status: number; body: Record<string, unknown> }>, number, string][] = [
      [post("mlflow/model-versions/create", { name: unique("missing"), source: `runs:/${runId}/model` }), 404, "RESOURCE_DOES_NOT_EXIST"],
      [post("mlflow/model-versions/create", { name, source: "s3://bucket/model" }), 400, "INVALID_PARAMETER_VALUE"],
      [post("mlflow/model-versions/create", { name, source: `${artifactUri}/nothing-here` }), 400, "INVALID_PARAMETER_VALUE"],
      [post("mlflow/model-versions/create", { name, source: `runs:/${runId}/model`, run_id: "no-such-run-r1" }), 404, "RESOURCE_DOES_NOT_EXIST"],
      [post("mlflow/model-versions/create", { name }), 400, "INVALID_PARAMETER_VALUE"],
      [get("mlflow/model-versions/get", { name, version: "one" }), 400, "INVALID_PARAMETER_VALUE"],
      [get("mlflow/model-versions/get", { name, version: "7" }), 404, "RESOURCE_DOES_NOT_EXIST"],
      [get("mlflow/registered-models/get", { name: unique("missing") }), 404, "RESOURCE_DOES_NOT_EXIST"],
    ];
    for (const [reply, status, code] of refusals) {
      const { status: got, body } = await reply;
      expect([got, body.error_code], JSON.stringify(body)).toEqual([status, code]);
    }
    expect((await server.kiln.models.info(name)).latestVersion).toBe(1);

    // Another project's registry, through the project's path: the name is free there.
    const other = await ok(post("mlflow/registered-models/create", { name }, "mlflow-other"));
    expect(other.registered_model).toMatchObject({ name, latest_versions: [] });
    expect((await ok(get("mlflow/registered-models/get", { name }))).registered_model.latest_versions).toHaveLength(1);
  });

  describe("with attachments the registry refuses (KILN_MAX_MODEL_BYTES under the folder's tar)", () => {
    const small = embeddedServer("mlflow-registry-small", { KILN_MAX_MODEL_BYTES: "2048" });
    const rest = mlflowRest(() => small.url);

    it("keeps the ONNX version it stored but marks it FAILED_REGISTRATION with the reason, as MLflow shows a registration that failed", async () => {
      const experimentId = (await rest.ok(rest.post("mlflow/experiments/create", { name: unique("small") }))).experiment_id as string;
      const info = (await rest.ok(rest.post("mlflow/runs/create", { experiment_id: experimentId, start_time: Date.now() }))).run.info;
      for (const [path, body] of Object.entries({ MLmodel: ONNX_MLMODEL, "model.onnx": linearRegressorOnnx([1], 0), "requirements.txt": "onnx\n" })) await rest.putArtifact(info.artifact_uri, `model/${path}`, body);
      const name = unique("small");
      await rest.ok(rest.post("mlflow/registered-models/create", { name }));
      const refused = await rest.post("mlflow/model-versions/create", { name, source: `runs:/${info.run_id}/model` });
      expect([refused.status, refused.body.error_code]).toEqual([400, "INVALID_PARAMETER_VALUE"]);
      const version = (await rest.ok(rest.get("mlflow/model-versions/get", { name, version: "1" }))).model_version;
      expect(version).toMatchObject({ status: "FAILED_REGISTRATION", status_message: expect.stringContaining("its files could not all be attached") });
      expect((await small.kiln.models.get(`${name}:1`)).attachments).toEqual([]);
    });
  });
});
