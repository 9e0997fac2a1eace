import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { fromJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { GRPCInferenceService } from "@kiln/proto/inference/grpc_predict_v2_pb";
import { describe, expect, it } from "vitest";
import { linearRegressorOnnx } from "@kiln/onnx";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from "@kiln/sdk";
import { LogisticRegression, StandardScaler } from "@kiln/sdk/ml";
import { embeddedServer } from "./embedded-server.js";
import { cli, unique } from "./helpers.js";

/** Two separable blobs: class 1 when x0 + x1 > 0. */
function blobs(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({ x0: Math.sin(i * 12.9898) * 2, x1: Math.cos(i * 78.233) * 2 }));
  return { X: rows, labels: rows.map((r) => (r.x0 + r.x1 > 0 ? 1 : 0)) };
}

const until = async (check: () => Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("online serving in embedded mode (deployments on the embedded executor)", () => {
  const server = embeddedServer("deployments", { KILN_EXECUTOR_HEARTBEAT_MS: "200", KILN_REQUEST_LOG_FLUSH_MS: "200" });
  const data = blobs(300);
  const { kiln: kilnCli, kilnFails } = cli(() => server.url, () => server.dir);

  it("deploys a model version, answers predictions of its rows as the model does locally, and lists it", async () => {
    const model = unique("clf");
    const local = new LogisticRegression().fit(data.X.map((r) => [r.x0, r.x1]), data.labels);
    await server.kiln.models.put(model, local);
    const id = unique("churn");
    const info = await server.kiln.deployments.create(id, { model });
    expect(info).toMatchObject({ id, state: "ready", readyReplicas: 1, replicas: 1, modelVersion: `projects/default/models/${model}/versions/1`, model: `projects/default/models/${model}/versions/latest` });
    expect(info.executors).toHaveLength(1);

    const rows = data.X.slice(0, 20);
    const predicted = await server.kiln.deployments.predict(id, rows);
    expect(predicted.schema.fields.map((f) => f.name)).toEqual(["prediction"]);
    expect(Array.from(predicted.getChild("prediction")!.toArray() as BigInt64Array, Number)).toEqual(Array.from(local.predict(rows.map((r) => [r.x0, r.x1])), Number));

    // Rows of numbers are positional, as the model learned from; probabilities are named by class; kept columns come first.
    const proba = await server.kiln.deployments.predictProba(id, [[1, 1], [-1, -1]]);
    expect(proba.schema.fields.map((f) => f.name)).toEqual(["probability_0", "probability_1"]);
    expect(proba.getChild("probability_1")!.get(0)).toBeGreaterThan(0.5);
    expect(proba.getChild("probability_1")!.get(1)).toBeLessThan(0.5);
    const kept = await server.kiln.deployments.predict(id, [{ id: "a", x0: 2, x1: 2 }, { id: "b", x0: -2, x1: -2 }], { keep: ["id"] });
    expect(kept.toArray().map((r) => ({ ...r.toJSON(), prediction: Number(r.prediction) }))).toEqual([{ id: "a", prediction: 1 }, { id: "b", prediction: 0 }]);

    expect((await server.kiln.deployments.list()).map((d) => d.id)).toContain(id);
    expect(await server.kiln.deployments.get(id)).toMatchObject({ state: "ready", readyReplicas: 1 });
  });

  it("answers JSON with JSON and Arrow with Arrow through the generated client, naming the version and executor that answered", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const id = unique("lin");
    await server.kiln.deployments.create(id, { model });
    const client = createClient(DeploymentService, createGrpcTransport({ baseUrl: server.url }));
    const name = `projects/default/deployments/${id}`;
    const json = await client.predict({ deployment: name, input: { case: "data", value: fromJson(ValueSchema, [{ a: 1, b: 1 }, { a: 0, b: 3 }]) } });
    expect(json.json?.columns).toEqual(["prediction"]);
    expect(json.json?.rows).toEqual([{ prediction: 1.5 }, { prediction: -2.5 }]);
    expect(json.modelVersion).toBe(`projects/default/models/${model}/versions/1`);
    expect(json.executor).toMatch(/^executors\//);
    const arrow = await client.predict({ deployment: name, input: { case: "arrowIpc", value: tableToIpcBytes({ a: [3], b: [1] }) } });
    expect(tableFromIPC(arrow.chunk!.arrowIpc).getChild("prediction")!.get(0)).toBeCloseTo(5.5, 5);
  });

  it("takes rows of numbers as the features in order, for a model that learned them by name", async () => {
    const model = unique("named");
    await server.kiln.models.create(model, { estimator: "linear_regression" });
    const rows = Array.from({ length: 20 }, (_, i) => ({ a: i, b: i % 4 }));
    await (await server.kiln.runtime.model(model).fit(rows, rows.map((r) => ({ y: 2 * r.a - r.b + 1 })))).get();
    const id = unique("named");
    await server.kiln.deployments.create(id, { model });
    const round = (t: import("apache-arrow").Table) => Array.from(t.getChild("prediction")!.toArray() as Float32Array, (v) => Math.round(v * 1000) / 1000);
    expect(round(await server.kiln.deployments.predict(id, [{ a: 3, b: 1 }]))).toEqual([6]);
    expect(round(await server.kiln.deployments.predict(id, [[3, 1], [0, 0]]))).toEqual([6, 1]);
    const client = createClient(DeploymentService, createGrpcTransport({ baseUrl: server.url }));
    const json = await client.predict({ deployment: `projects/default/deployments/${id}`, input: { case: "data", value: fromJson(ValueSchema, [[3, 1]]) } });
    expect(Math.round((json.json!.rows[0]!.prediction as number) * 1000) / 1000).toBe(6);
  });

  it("batches concurrent requests and answers each with its own rows", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([1, 1000], 0));
    const id = unique("many");
    await server.kiln.deployments.create(id, { model });
    const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => server.kiln.deployments.predict(id, [{ a: i, b: 0 }, { a: 0, b: i }])));
    answers.forEach((t, i) => expect(Array.from(t.getChild("prediction")!.toArray() as Float32Array)).toEqual([i, 1000 * i]));
    // The executor says so in a later heartbeat: every request answered, in fewer model runs than requests.
    // (A heartbeat between the requests' arrival and their answers counts them but not yet their rows.)
    await until(async () => {
      const { stats } = await server.kiln.deployments.get(id);
      return stats.requests === 300 && stats.rows === 600;
    });
    const { stats } = await server.kiln.deployments.get(id);
    expect(stats).toMatchObject({ requests: 300, rows: 600, failures: 0 });
    expect(stats.runs).toBeGreaterThan(0);
    expect(stats.runs).toBeLessThan(300);
    // The same counts for Prometheus, per deployment and executor.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const name = `projects/default/deployments/${id}`;
    const sample = (metric: string) => Number(new RegExp(`^${metric}\\{deployment="${name}"(?:,executor="[^"]+")?\\} (\\d+)$`, "m").exec(metrics)?.[1]);
    expect(sample("kiln_deployment_requests_total")).toBe(300);
    expect(sample("kiln_deployment_rows_total")).toBe(600);
    expect(sample("kiln_deployment_model_runs_total")).toBe(stats.runs);
    expect(sample("kiln_deployment_ready_replicas")).toBe(1);
    expect(metrics).toContain("# TYPE kiln_deployment_requests_total counter");
    expect(metrics).toMatch(/^kiln_executors_alive 1$/m);
    // How long the executor took to answer them.
    expect(stats.latencyP50Ms).toBeGreaterThan(0);
    expect(stats.latencyP99Ms).toBeGreaterThanOrEqual(stats.latencyP50Ms);
    expect(metrics).toMatch(new RegExp(`^kiln_deployment_latency_seconds\\{deployment="${name}",executor="[^"]+",quantile="0.99"\\} [0-9.e-]+$`, "m"));
  });

  it("moves to a new version on update, answering throughout", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([1], 0));
    const id = unique("moving");
    await server.kiln.deployments.create(id, { model: `${model}:1` });
    await server.kiln.models.put(model, linearRegressorOnnx([10], 0));
    let stop = false;
    const answered: number[] = [];
    const traffic = (async () => {
      while (!stop) answered.push((await server.kiln.deployments.predict(id, [{ x: 1 }])).getChild("prediction")!.get(0) as number);
    })();
    const updated = await server.kiln.deployments.update(id, { model: `${model}:latest` });
    expect(updated).toMatchObject({ state: "ready", modelVersion: `projects/default/models/${model}/versions/2` });
    await until(async () => answered.at(-1) === 10);
    stop = true;
    await traffic;
    expect(new Set(answered)).toEqual(new Set([1, 10]));
    expect(answered.indexOf(10)).toBeGreaterThan(0);
    expect(answered.slice(answered.indexOf(10)).every((v) => v === 10)).toBe(true);
  });

  it("splits requests between the model and a canary, then promotes or drops the canary", async () => {
    const model = unique("canary");
    await server.kiln.models.put(model, linearRegressorOnnx([1], 0)); // version 1: y = x
    await server.kiln.models.put(model, linearRegressorOnnx([10], 0)); // version 2: y = 10x
    const id = unique("canary");
    await server.kiln.deployments.create(id, { model: `${model}:1` });
    const withCanary = await server.kiln.deployments.update(id, { canary: { model: `${model}:2`, percent: 30 } });
    expect(withCanary).toMatchObject({ state: "ready", modelVersion: `projects/default/models/${model}/versions/1`, canary: { modelVersion: `projects/default/models/${model}/versions/2`, percent: 30 } });
    const answers = async (n: number) => {
      const values = await Promise.all(Array.from({ length: n }, () => server.kiln.deployments.predict(id, [{ x: 1 }]).then((t) => t.getChild("prediction")!.get(0) as number)));
      return { v1: values.filter((v) => v === 1).length, v2: values.filter((v) => v === 10).length };
    };
    const split = await answers(400);
    expect(split.v1 + split.v2).toBe(400);
    // 30% of 400 is 120, with a standard deviation of about 9: far inside 60..180.
    expect(split.v2).toBeGreaterThan(60);
    expect(split.v2).toBeLessThan(180);

    // Dropping the canary sends everything to the model again; promoting one makes it the model.
    await server.kiln.deployments.update(id, { canary: null });
    await until(async () => (await answers(20)).v2 === 0);
    await server.kiln.deployments.update(id, { canary: { model: `${model}:2`, percent: 5 } });
    const promoted = await server.kiln.deployments.promote(id);
    expect(promoted).toMatchObject({ state: "ready", modelVersion: `projects/default/models/${model}/versions/2` });
    expect(promoted.canary).toBeUndefined();
    await until(async () => (await answers(20)).v1 === 0);
    await expect(server.kiln.deployments.promote(id)).rejects.toMatchObject({ reason: "NO_CANARY" });
  });

  it("logs requests to a dataset a day (features by the model's names, kept columns and answers as JSON), samples them, and feeds models.drift", async () => {
    const model = unique("logged");
    const x = unique("logged-x");
    await server.kiln.datasets.put(x, data.X);
    await server.kiln.datasets.put(`${x}-y`, data.labels.map((label) => ({ label })));
    await server.kiln.models.create(model, { estimator: "logistic_regression" });
    await (await server.kiln.runtime.model(model).fit(x, `${x}-y`)).get();
    const id = unique("logging");
    const info = await server.kiln.deployments.create(id, { model, requestLog: { dataset: `${id}-requests` } });
    expect(info.requestLog).toEqual({ dataset: `${id}-requests`, samplePercent: 100, retentionDays: 0 });

    const named = await server.kiln.deployments.predict(id, [{ id: "a", x0: 2, x1: 2 }, { id: "b", x0: -2, x1: -2 }], { keep: ["id"] });
    const positional = await server.kiln.deployments.predictProba(id, [[1, 1]]);
    const day = new Date().toISOString().slice(0, 10);
    await until(async () => (await server.kiln.deployments.get(id)).stats.loggedRows === 3);
    const log = (await server.kiln.datasets.get(`${id}-requests-${day}`)) as import("apache-arrow").Table;
    expect(log.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(["x0:Float64", "x1:Float64", "kept:Utf8", "request_time:Timestamp<MILLISECOND>", "model_version:Int32", "request_kind:Utf8", "output:Utf8"]);
    const rows = log.toArray().map((r) => r.toJSON() as Record<string, unknown>);
    expect(rows.map((r) => [r.x0, r.x1, r.kept, r.model_version, r.request_kind])).toEqual([
      [2, 2, '{"id":"a"}', 2, "predict"],
      [-2, -2, '{"id":"b"}', 2, "predict"],
      [1, 1, null, 2, "predict_proba"],
    ]);
    const outputs = rows.map((r) => JSON.parse(r.output as string) as Record<string, number>);
    expect(outputs.slice(0, 2)).toEqual([{ prediction: Number(named.getChild("prediction")!.get(0)) }, { prediction: Number(named.getChild("prediction")!.get(1)) }]);
    // Probabilities are float32, written shortest (as the JSON answers write them).
    expect(Object.keys(outputs[2]!)).toEqual(["probability_0", "probability_1"]);
    expect(Math.fround(outputs[2]!.probability_1!)).toBe(positional.getChild("probability_1")!.get(0));
    expect(Math.abs((rows[0]!.request_time as number) - Date.now())).toBeLessThan(60_000);

    // The log is data like any: what the deployment saw, compared with what the model learned from.
    for (let i = 0; i < 10; i++) await server.kiln.deployments.predict(id, data.X.slice(i * 30, i * 30 + 30));
    await until(async () => (await server.kiln.deployments.get(id)).stats.loggedRows === 303);
    const drift = await server.kiln.models.drift(model, `${id}-requests-${day}`);
    expect(drift.columns.map((c) => [c.column, c.drifted])).toEqual([["x0", false], ["x1", false]]);
    expect(drift.target.rows).toBe(303);
    // The same, by the deployment: its log's dataset of the day, the rows its version answered.
    const byDeployment = await server.kiln.deployments.drift(id);
    expect(byDeployment.target.selection).toMatchObject({ dataset: `${id}-requests-${day}`, filter: "model_version = 2" });
    expect(byDeployment).toMatchObject({ drifted: false, modelVersion: `projects/default/models/${model}/versions/2`, target: { rows: 303 } });
    const printed = await kilnCli("deployments:drift", id, "--day", "today");
    expect(printed.split("\n")[0]).toBe(`${id} (${model}:2) trained on ${x}@1 (300 rows) → ${id}-requests-${day}@${byDeployment.target.selection.version} where model_version = 2 (303 rows)`);
    expect((await kilnFails("deployments:drift", id, "--day", "yesterday")).stderr).toMatch(/not found \(DATASET_NOT_FOUND\)/);
    // As a job (what a schedule runs on requests-{{date-1}}): a request log's rows are the version's own.
    const asJob = await (await server.kiln.runtime.model(model).drift({ dataset: `${id}-requests-${day}`, filter: "request_kind = \"predict\"" })).get();
    expect(asJob.target).toMatchObject({ dataset: `${id}-requests-${day}`, filter: '(request_kind = "predict") AND model_version = 2' });
    expect(asJob).toMatchObject({ drifted: false, targetRows: 302 }); // all but the predict_proba

    // A share of them; moved to another dataset, and stopped, without loading the model again.
    await server.kiln.deployments.update(id, { requestLog: { dataset: `${id}-sampled`, samplePercent: 30 } });
    await until(async () => (await server.kiln.deployments.get(id)).requestLog?.dataset === `${id}-sampled`);
    await new Promise((r) => setTimeout(r, 500)); // the executor's next heartbeat brings the change
    for (let i = 0; i < 200; i++) await server.kiln.deployments.predict(id, [data.X[i]!]);
    await until(async () => (await server.kiln.datasets.list()).some((d) => d.id === `${id}-sampled-${day}`));
    await new Promise((r) => setTimeout(r, 400));
    const sampled = (await server.kiln.datasets.info(`${id}-sampled-${day}`)).latest!.rowCount;
    expect(sampled).toBeGreaterThan(30);
    expect(sampled).toBeLessThan(100);
    expect((await server.kiln.deployments.get(id)).stats.unloggedRows).toBe(0);

    // Rows the store refuses (a dataset of that day, and the version's own, already holding other columns) are counted, not retried; answers go on.
    await server.kiln.datasets.put(`${id}-clash-${day}`, [{ a: 1 }]);
    await server.kiln.datasets.put(`${id}-clash-${day}.v2`, [{ a: 1 }]);
    await server.kiln.deployments.update(id, { requestLog: { dataset: `${id}-clash` } });
    await new Promise((r) => setTimeout(r, 500));
    expect((await server.kiln.deployments.predict(id, data.X.slice(0, 2))).numRows).toBe(2);
    await until(async () => (await server.kiln.deployments.get(id)).stats.unloggedRows === 2);
    // Days past the log's retention are dropped: the datasets the log wrote (labelled so), not one of the user's named alike.
    const labelled = { labels: { "kiln.request_log": "true" } };
    await server.kiln.datasets.put(`${id}-kept-2026-01-01`, [{ a: 1 }], labelled);
    await server.kiln.datasets.put(`${id}-kept-2026-01-01.v3`, [{ a: 1 }], labelled); // a version's own rows of the day go with it
    await server.kiln.datasets.put(`${id}-kept-2026-01-02`, [{ a: 1 }]);
    await server.kiln.datasets.put(`${id}-kept-${day}`, [{ a: 1 }], labelled);
    const kept = await server.kiln.deployments.update(id, { requestLog: { dataset: `${id}-kept`, retentionDays: 7 } });
    expect(kept.requestLog).toEqual({ dataset: `${id}-kept`, samplePercent: 100, retentionDays: 7 });
    const names = async () => (await server.kiln.datasets.list()).map((d) => d.id).filter((n) => n.startsWith(`${id}-kept-`));
    await until(async () => !(await names()).some((n) => n.startsWith(`${id}-kept-2026-01-01`)));
    expect((await names()).sort()).toEqual([`${id}-kept-2026-01-02`, `${id}-kept-${day}`]);
    await expect(server.kiln.deployments.update(id, { requestLog: { dataset: "fine", retentionDays: -1 } })).rejects.toMatchObject({ reason: "INVALID_REQUEST_LOG" });

    const stopped = await server.kiln.deployments.update(id, { requestLog: null });
    expect(stopped.requestLog).toBeUndefined();
    // What the deployment logged is still counted after its log stops.
    await new Promise((r) => setTimeout(r, 500));
    expect((await server.kiln.deployments.get(id)).stats).toMatchObject({ loggedRows: 303 + sampled, unloggedRows: 2 });

    await kilnCli("deploy", id, model, "--log-requests", `${id}-cli`, "--log-sample", "50", "--log-retention-days", "30");
    expect(await kilnCli("deployments:show", id)).toMatch(new RegExp(`^request log:\\s+${id}-cli-YYYY-MM-DD, 50% of the requests, 30 days kept: \\d+ rows logged, 2 dropped$`, "m"));
    await kilnCli("deploy", id, model, "--no-log-requests");
    expect(await kilnCli("deployments:show", id)).not.toMatch(/request log/);
    expect((await kilnFails("deploy", id, model, "--log-sample", "5")).stderr).toMatch(/--log-sample and --log-retention-days go with --log-requests DATASET/);

    await expect(server.kiln.deployments.drift(id)).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "NO_REQUEST_LOG" });
    await expect(server.kiln.deployments.update(id, { requestLog: { dataset: "no/slashes" } })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_NAME" });
    await expect(server.kiln.deployments.update(id, { requestLog: { dataset: "fine", samplePercent: 101 } })).rejects.toMatchObject({ reason: "INVALID_REQUEST_LOG" });
    await expect(server.kiln.deployments.update(id, { requestLog: { dataset: "", samplePercent: 5 } })).rejects.toMatchObject({ reason: "REQUEST_LOG_DATASET_REQUIRED" });
    expect((await server.kiln.deployments.get(id)).requestLog).toBeUndefined();
  });

  it("logs a canary with other features to a dataset of its own for the day, losing no row, drifts each version on its own rows, and logs explanations", async () => {
    const model = unique("logged-canary");
    const rows = Array.from({ length: 60 }, (_, i) => ({ x0: Math.sin(i), x1: Math.cos(i), x2: i % 3 }));
    await server.kiln.datasets.put(`${model}-x`, rows);
    await server.kiln.datasets.put(`${model}-y`, rows.map((r) => ({ y: r.x0 + 2 * r.x1 + r.x2 })));
    await server.kiln.models.create(model, { estimator: "linear_regression" });
    await (await server.kiln.runtime.model(model).fit({ dataset: `${model}-x`, columns: ["x0", "x1"] }, `${model}-y`)).get();
    await (await server.kiln.runtime.model(model).fit({ dataset: `${model}-x`, columns: ["x0", "x1", "x2"] }, `${model}-y`)).get();
    const id = unique("canary-log");
    await server.kiln.deployments.create(id, { model: `${model}:2`, requestLog: { dataset: `${id}-requests` } });
    await server.kiln.deployments.update(id, { canary: { model: `${model}:3`, percent: 50 } });
    await new Promise((r) => setTimeout(r, 500)); // the executor's next heartbeat brings the canary
    for (const row of rows.slice(0, 40)) await server.kiln.deployments.predict(id, [row]);
    await until(async () => (await server.kiln.deployments.get(id)).stats.loggedRows === 40);
    expect((await server.kiln.deployments.get(id)).stats.unloggedRows).toBe(0);

    const day = new Date().toISOString().slice(0, 10);
    const main = (await server.kiln.datasets.get(`${id}-requests-${day}`)) as import("apache-arrow").Table;
    const first = Number(main.getChild("model_version")!.get(0));
    const other = first === 2 ? 3 : 2;
    const own = (await server.kiln.datasets.get(`${id}-requests-${day}.v${other}`)) as import("apache-arrow").Table;
    expect(new Set(Array.from(main.getChild("model_version")!.toArray() as Int32Array))).toEqual(new Set([first]));
    expect(new Set(Array.from(own.getChild("model_version")!.toArray() as Int32Array))).toEqual(new Set([other]));
    expect(main.numRows + own.numRows).toBe(40);
    const featuresOf = (t: import("apache-arrow").Table) => t.schema.fields.map((f) => f.name).filter((n) => n.startsWith("x"));
    expect(featuresOf(other === 3 ? own : main)).toEqual(["x0", "x1", "x2"]);
    expect(featuresOf(other === 3 ? main : own)).toEqual(["x0", "x1"]);
    expect((await server.kiln.datasets.info(`${id}-requests-${day}.v${other}`)).labels).toMatchObject({ "kiln.request_log": "true" });

    // deployments.drift reads the rows of the version served, wherever the day put them.
    const drift = await server.kiln.deployments.drift(id);
    const servedRows = other === 2 ? own.numRows : main.numRows;
    expect(drift.target.selection.dataset).toBe(other === 2 ? `${id}-requests-${day}.v2` : `${id}-requests-${day}`);
    expect(drift.target.rows).toBe(servedRows);

    // Explanations are logged as well: request_kind "explain", the output each row's values.
    await server.kiln.deployments.update(id, { canary: null });
    await new Promise((r) => setTimeout(r, 500));
    await server.kiln.deployments.explain(id, [rows[0]!], { backgroundRows: 20 });
    const explainedRows = async () => {
      const v2 = (await server.kiln.datasets.get(other === 2 ? `${id}-requests-${day}.v2` : `${id}-requests-${day}`)) as import("apache-arrow").Table;
      return v2.toArray().map((r) => r.toJSON() as Record<string, unknown>).filter((r) => r.request_kind === "explain");
    };
    await until(async () => (await explainedRows()).length > 0);
    const explained = await explainedRows();
    expect(explained).toHaveLength(1);
    expect(explained[0]).toMatchObject({ x0: rows[0]!.x0, x1: rows[0]!.x1, model_version: 2 });
    expect(Object.keys(JSON.parse(explained[0]!.output as string) as object)).toEqual(["prediction", "base_value", "shap_x0", "shap_x1"]);
    await server.kiln.deployments.delete(id);
  });

  it("refuses bad deployments and bad rows with the right codes, storing nothing", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([1, 2], 0));
    const id = unique("checked");
    await expect(server.kiln.deployments.create(id, { model: unique("nothing") })).rejects.toBeInstanceOf(NotFoundError);
    await expect(server.kiln.deployments.create(id, { model, replicas: 101 })).rejects.toMatchObject({ reason: "INVALID_REPLICAS" });
    await expect(server.kiln.deployments.create(id, { model, maxBatchRows: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    const untrained = unique("untrained");
    await server.kiln.models.create(untrained, { estimator: "logistic_regression" });
    await expect(server.kiln.deployments.create(id, { model: untrained })).rejects.toMatchObject({ reason: "NOT_RUNNABLE" });
    await expect(server.kiln.deployments.get(id)).rejects.toBeInstanceOf(NotFoundError);

    await server.kiln.deployments.create(id, { model });
    await expect(server.kiln.deployments.create(id, { model })).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(server.kiln.deployments.predict(id, [{ a: 1, b: 2, c: 3 }])).rejects.toMatchObject({ reason: "FEATURE_COUNT" });
    await expect(server.kiln.deployments.predict(id, [{ a: 1, b: "x" }])).rejects.toBeInstanceOf(FailedPreconditionError);
    await expect(server.kiln.deployments.predict(id, [{ a: 1, b: 2 }], { keep: ["nope"] })).rejects.toMatchObject({ reason: "KEEP_COLUMN_MISSING" });
    await expect(server.kiln.deployments.predictProba(id, [{ a: 1, b: 2 }])).rejects.toMatchObject({ reason: "NO_PROBABILITIES" });
    const tooMany = { a: new Float64Array(70_000), b: new Float64Array(70_000) };
    await expect(server.kiln.deployments.predict(id, tooMany)).rejects.toMatchObject({ reason: "PREDICT_TOO_LARGE", message: expect.stringContaining("predict them with a job") });
    await expect(server.kiln.deployments.predict(unique("nowhere"), [{ a: 1, b: 2 }])).rejects.toMatchObject({ reason: "DEPLOYMENT_NOT_FOUND" });
    // It still answers after all that, and counts what it refused.
    expect((await server.kiln.deployments.predict(id, [{ a: 1, b: 2 }])).getChild("prediction")!.get(0)).toBe(5);
    // The one too large never left the scheduler; a heartbeat may count a request before its answer.
    await until(async () => {
      const { stats } = await server.kiln.deployments.get(id);
      return stats.requests === 5 && stats.rows + stats.failures === 5;
    });
    expect((await server.kiln.deployments.get(id)).stats).toMatchObject({ requests: 5, rows: 1, failures: 4 });
  });

  it("stays pending without an executor having its labels, and says why a prediction cannot be answered", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([1], 0));
    const id = unique("gpu");
    const info = await server.kiln.deployments.create(id, { model, labels: ["gpu"] }, { wait: false });
    expect(info).toMatchObject({ state: "pending", readyReplicas: 0, requiredLabels: ["gpu"] });
    const refused = server.kiln.deployments.predict(id, [{ x: 1 }]);
    await expect(refused).rejects.toBeInstanceOf(UnavailableError);
    await expect(refused).rejects.toMatchObject({ reason: "DEPLOYMENT_NOT_READY", message: expect.stringContaining("no executor with labels gpu") });
    await expect(server.kiln.deployments.waitReady(id, 300)).rejects.toMatchObject({ reason: "DEPLOYMENT_NOT_READY" });
  });

  it("transforms with a transformer and refuses to predict with it", async () => {
    const model = unique("scaler");
    await server.kiln.models.put(model, new StandardScaler().fit([[0, 10], [2, 30]]));
    const id = unique("scale");
    await server.kiln.deployments.create(id, { model });
    const out = await server.kiln.deployments.transform(id, [[1, 20]]);
    expect(out.toArray().map((r) => r.toJSON())).toEqual([{ component_0: 0, component_1: 0 }]);
    await expect(server.kiln.deployments.predict(id, [[1, 20]])).rejects.toMatchObject({ reason: "NOT_A_PREDICTOR" });
  });

  it("deploys, lists, shows, predicts JSON and files, moves to a new version and deletes from the command line", async () => {
    const model = unique("cli-linear");
    await server.kiln.models.put(model, linearRegressorOnnx([2, 1], 0));
    const id = unique("cli");
    expect(await kilnCli("deploy", id, `${model}:1`)).toBe(`${id}: ${model}:1 ready (1 of 1 replicas)\n`);
    expect(await kilnCli("deployments")).toMatch(new RegExp(`${id}\\s+${model}:1\\s+ready\\s+1/1`));
    const shown = JSON.parse(await kilnCli("--json", "deployments:show", id)) as { state: string; executors: string[]; maxBatchRows: number };
    expect(shown).toMatchObject({ state: "ready", maxBatchRows: 4096 });
    expect(shown.executors).toHaveLength(1);
    // The executor says what it serves.
    expect(await kilnCli("executors")).toContain(id);
    const [executor] = JSON.parse(await kilnCli("--json", "executors")) as { serving: { deployment: string; state: string }[] }[];
    expect(executor!.serving).toContainEqual(expect.objectContaining({ deployment: `projects/default/deployments/${id}`, state: "ready" }));

    expect(await kilnCli("predict", id, '[{"a": 1, "b": 1}, {"a": 2, "b": 0}]')).toBe("prediction\n3\n4\n");
    await writeFile(join(server.dir, "rows.csv"), "id,a,b\nr1,1,2\nr2,0,5\n");
    expect(await kilnCli("predict", id, "./rows.csv", "--keep", "id", "-o", "out.json")).toBe("wrote 2 rows to out.json\n");
    expect(JSON.parse(await readFile(join(server.dir, "out.json"), "utf8"))).toEqual([{ id: "r1", prediction: 4 }, { id: "r2", prediction: 5 }]);
    // Why: each row's Shapley values against a background (the model was uploaded: it records no training data to sample).
    await server.kiln.datasets.put(`${id}-usual`, [{ a: 0, b: 0 }, { a: 2, b: 2 }]);
    expect(await kilnCli("predict", id, '[{"a": 1, "b": 1}, {"a": 3, "b": 0}]', "--explain", "--background", `${id}-usual`)).toBe("prediction,base_value,shap_a,shap_b\n3,3,0,0\n6,3,4,-1\n");
    expect((await kilnFails("predict", id, '[{"a": 1, "b": 1}]', "--explain")).stderr).toMatch(/records no stored training data.*NO_TRAINING_DATA/);
    expect((await kilnFails("predict", id, '[{"a": 1, "b": 1}]', "--class", "1")).stderr).toContain("--background, --background-rows, --method and --class go with --explain");
    expect(await kilnCli("predict", id, '[{"a": 3, "b": 0}]', "--explain", "--background", `${id}-usual`, "--method", "exact")).toBe("prediction,base_value,shap_a,shap_b\n6,3,4,-1\n");
    expect((await kilnFails("predict", id, '[{"a": 3, "b": 0}]', "--explain", "--background", `${id}-usual`, "--method", "tree")).stderr).toMatch(/method "tree" explains tree ensembles.*NOT_A_TREE_ENSEMBLE/);
    // The deployment's own explainer: its background by default.
    expect(await kilnCli("deploy", id, `${model}:1`, "--explain-background", `${id}-usual`, "--explain-background-rows", "10")).toBe(`${id}: ${model}:1 ready (1 of 1 replicas)\n`);
    expect(await kilnCli("deployments:show", id)).toMatch(new RegExp(`^explainer:\\s+10 rows of ${id}-usual$`, "m"));
    await kilnCli("deploy", id, `${model}:1`, "--explain-background", `${id}-usual`, "--explain-background-rows", "10", "--explain-method", "exact");
    expect(await kilnCli("deployments:show", id)).toMatch(new RegExp(`^explainer:\\s+10 rows of ${id}-usual, exact$`, "m"));
    expect(await kilnCli("predict", id, '[{"a": 3, "b": 0}]', "--explain")).toBe("prediction,base_value,shap_a,shap_b\n6,3,4,-1\n");
    await kilnCli("deploy", id, `${model}:1`, "--no-explain-background");
    expect(await kilnCli("deployments:show", id)).not.toMatch(/^explainer:/m);

    // Deploying again moves it to the version asked for.
    await server.kiln.models.put(model, linearRegressorOnnx([0, 0], 7));
    expect(await kilnCli("deploy", id, model)).toBe(`${id}: ${model}:2 ready (1 of 1 replicas)\n`);
    await until(async () => (await kilnCli("predict", id, "[[1, 1]]")) === "prediction\n7\n");
    // A canary of version 1 beside it, shown in the list; promoted, it is the model.
    expect(await kilnCli("deploy", id, `${model}:1`, "--canary", "25")).toBe(`${id}: ${model}:2 + ${model}:1 (25%) ready (1 of 1 replicas)\n`);
    expect(await kilnCli("deployments")).toContain(`${model}:2 + ${model}:1 (25%)`);
    expect(await kilnCli("deployments:show", id)).toMatch(new RegExp(`canary: +${model}:1 \\(as asked: ${model}:1\\), 25% of the requests`));
    expect(await kilnCli("deployments:promote", id)).toBe(`${id}: ${model}:1 ready (1 of 1 replicas)\n`);
    expect((await kilnFails("deploy", id, model, "--canary", "101")).stderr).toContain("from 0 to 100");

    const refused = await kilnFails("predict", id, "[[1, 1]]", "--proba");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/no probability output .*\(NO_PROBABILITIES\)/);
    expect((await kilnFails("predict", id, "rows.csv")).stderr).toContain("a file path with a \"/\" (./rows.csv)");
    // The version it serves cannot be deleted from under it; the one it no longer serves can.
    const held = await kilnFails("models:drop", `${model}:1`, "--yes");
    expect(held.stderr).toMatch(new RegExp(`in use by projects/default/deployments/${id}: .*\\(VERSION_IN_USE\\)`));
    expect(await kilnCli("models:show", `${model}:1`)).toMatch(new RegExp(`^in use by: +deployments/${id}$`, "m"));
    expect((await kilnFails("models:drop", model, "--yes")).stderr).toContain("MODEL_IN_USE");
    await kilnCli("models:drop", `${model}:2`, "--yes");
    expect(await kilnCli("deployments:delete", id)).toBe(`deleted deployment ${id}\n`);
    expect((await kilnFails("deployments:show", id)).stderr).toContain("DEPLOYMENT_NOT_FOUND");
    expect(await kilnCli("models:show", `${model}:1`)).not.toContain("in use by");
    await kilnCli("models:drop", `${model}:1`, "--yes");
  });

  it("speaks the Open Inference Protocol (KServe V2 gRPC): health, metadata, and inference with typed or raw tensors", async () => {
    const model = unique("oip");
    const local = new LogisticRegression().fit(data.X.map((r) => [r.x0, r.x1]), data.labels.map((l) => (l ? "yes" : "no")));
    await server.kiln.models.put(model, local);
    const id = unique("oip");
    await server.kiln.deployments.create(id, { model });
    const oip = createClient(GRPCInferenceService, createGrpcTransport({ baseUrl: server.url }));
    expect(await oip.serverLive({})).toMatchObject({ live: true });
    expect(await oip.serverReady({})).toMatchObject({ ready: true });
    expect((await oip.serverMetadata({})).name).toBe("kiln");
    expect(await oip.modelReady({ name: id })).toMatchObject({ ready: true });
    const meta = await oip.modelMetadata({ name: id });
    expect(meta).toMatchObject({ name: id, versions: ["1"], platform: "onnxruntime_onnx" });
    expect(meta.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) }))).toEqual([{ name: "X", datatype: "FP32", shape: [-1, 2] }]);

    // A [N, 2] FP32 matrix in typed contents: the labels, as the model predicts them locally.
    const rows = data.X.slice(0, 5).map((r) => [r.x0, r.x1]);
    const typed = await oip.modelInfer({ modelName: id, id: "req-1", inputs: [{ name: "X", datatype: "FP32", shape: [5n, 2n], contents: { fp32Contents: rows.flat() } }] });
    expect(typed).toMatchObject({ modelName: id, modelVersion: "1", id: "req-1" });
    expect(typed.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) }))).toEqual([{ name: "prediction", datatype: "BYTES", shape: [5] }]);
    expect(typed.outputs[0]!.contents!.bytesContents.map((b) => new TextDecoder().decode(b))).toEqual(local.predict(rows).map(String));

    // Raw contents in, raw contents out; probabilities as one [N, 2] tensor when asked for by output name.
    const raw = new Uint8Array(Float32Array.from(rows.flat()).buffer);
    const proba = await oip.modelInfer({ modelName: id, modelVersion: "1", inputs: [{ name: "X", datatype: "FP32", shape: [5n, 2n] }], rawInputContents: [raw], outputs: [{ name: "probability" }] });
    expect(proba.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) }))).toEqual([{ name: "probability", datatype: "FP32", shape: [5, 2] }]);
    expect(proba.outputs[0]!.parameters.columns?.parameterChoice.value).toBe("probability_no,probability_yes");
    const p = new Float32Array(proba.rawOutputContents[0]!.slice().buffer);
    for (let i = 0; i < 5; i++) expect(p[2 * i]! + p[2 * i + 1]!).toBeCloseTo(1, 5);

    const code = async (call: Promise<unknown>) => call.then(() => "ok", (e: { code: number }) => e.code);
    expect(await code(oip.modelInfer({ modelName: id, modelVersion: "7", inputs: [{ name: "X", datatype: "FP32", shape: [1n, 2n], contents: { fp32Contents: [0, 0] } }] }))).toBe(5); // NotFound
    expect(await code(oip.modelInfer({ modelName: id, inputs: [{ name: "X", datatype: "FP32", shape: [2n, 2n], contents: { fp32Contents: [0, 0, 1] } }] }))).toBe(3); // InvalidArgument
    expect(await code(oip.modelInfer({ modelName: id, inputs: [{ name: "X", datatype: "FP16", shape: [1n, 2n] }], rawInputContents: [new Uint8Array(4)] }))).toBe(3);
    expect(await code(oip.modelReady({ name: unique("nothing") }))).toBe(5);
  });

  it("speaks the Open Inference Protocol's REST form too: /v2 health, metadata, readiness and JSON inference", async () => {
    const model = unique("rest");
    await server.kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const id = unique("rest");
    await server.kiln.deployments.create(id, { model });
    const url = server.url;
    const get = async (path: string) => {
      const res = await fetch(`${url}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: typeof body === "string" ? body : JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect(await get("/v2/health/live")).toEqual({ status: 200, body: { live: true } });
    expect(await get("/v2/health/ready")).toEqual({ status: 200, body: { ready: true } });
    expect((await get("/v2")).body).toMatchObject({ name: "kiln" });
    expect(await get(`/v2/models/${id}/ready`)).toEqual({ status: 200, body: { name: id, ready: true } });
    expect((await get(`/v2/models/${id}`)).body).toEqual({
      name: id,
      versions: ["1"],
      platform: "onnxruntime_onnx",
      inputs: [{ name: "X", datatype: "FP32", shape: [-1, 2] }],
      outputs: [{ name: "variable", datatype: "FP32", shape: [-1, 1] }],
    });

    // Nested data (row-major) as KServe's examples send it, and flat data with a version in the path.
    const nested = await post(`/v2/models/${id}/infer`, { id: "r1", inputs: [{ name: "X", shape: [2, 2], datatype: "FP32", data: [[1, 1], [0, 3]] }] });
    expect(nested).toEqual({ status: 200, body: { model_name: id, model_version: "1", id: "r1", outputs: [{ name: "prediction", datatype: "FP32", shape: [2], data: [1.5, -2.5] }] } });
    const flat = await post(`/v2/models/${id}/versions/1/infer`, { inputs: [{ name: "X", shape: [1, 2], datatype: "FP64", data: [2, 1] }] });
    expect(flat.body.outputs).toEqual([{ name: "prediction", datatype: "FP32", shape: [1], data: [3.5] }]);

    // Errors as {"error"} with the HTTP status of their code.
    expect(await post(`/v2/models/${unique("none")}/infer`, { inputs: [{ name: "X", shape: [1, 2], datatype: "FP32", data: [1, 2] }] })).toMatchObject({ status: 404, body: { error: expect.stringContaining("does not exist") } });
    expect(await post(`/v2/models/${id}/versions/9/infer`, { inputs: [{ name: "X", shape: [1, 2], datatype: "FP32", data: [1, 2] }] })).toMatchObject({ status: 404, body: { error: expect.stringContaining("serves version 1, not 9") } });
    expect(await post(`/v2/models/${id}/infer`, { inputs: [{ name: "X", shape: [2, 2], datatype: "FP32", data: [1, 2, 3] }] })).toMatchObject({ status: 400, body: { error: expect.stringContaining("3 elements for shape [2, 2]") } });
    expect(await post(`/v2/models/${id}/infer`, "not json")).toMatchObject({ status: 400, body: { error: expect.stringContaining("not JSON") } });
    expect(await post(`/v2/models/${id}/infer`, { inputs: [{ name: "X", shape: [1, 2], datatype: "FP32", data: ["a", "b"] }] })).toMatchObject({ status: 400 });
    expect((await get(`/v2/nothing`)).status).toBe(404);
    expect((await get(`/v2/models/${id}/infer`)).status).toBe(404); // inference is a POST
    expect((await get(`/v2/models/%E0%A4%A/ready`)).status).toBe(400);
  });

  it("scales a deployment by its load: more replicas under requests, back down once they stop (kiln deploy --max-replicas --target-rps)", async () => {
    const model = unique("scaled");
    await server.kiln.models.put(model, linearRegressorOnnx([1, 2], 0));
    const id = unique("scaled");
    expect(await kilnCli("deploy", id, model, "--max-replicas", "3", "--target-rps", "5", "--scale-down-delay", "1")).toBe(`${id}: ${model}:1 ready (1 of 1 replicas)\n`);
    expect(await kilnCli("deployments:show", id)).toMatch(/^autoscaling:\s+1 to 3 replicas, one for each 5 requests a second; one goes after 1 s of less; now [\d.]+ requests a second$/m);
    // About 40 requests a second for two seconds: 3 replicas wanted (one executor here, so it is degraded, answering still).
    const until3 = Date.now() + 10_000;
    while ((await server.kiln.deployments.get(id)).replicas < 3) {
      if (Date.now() > until3) throw new Error("timed out waiting for 3 replicas");
      await Promise.all(Array.from({ length: 4 }, () => server.kiln.deployments.predict(id, [{ a: 1, b: 1 }])));
      await new Promise((r) => setTimeout(r, 100));
    }
    const busy = await server.kiln.deployments.get(id);
    expect(busy).toMatchObject({ replicas: 3, state: "degraded", readyReplicas: 1, updater: "autoscaler", autoscaling: { minReplicas: 1, maxReplicas: 3, targetRequestsPerSecond: 5, scaleDownDelayMs: 1000 } });
    // What it measured: more than the two replicas' worth that three replicas answer to.
    expect(busy.requestsPerSecond).toBeGreaterThan(10);
    // As the rate is shown: whole at 10 and over, one decimal under (the load just ended, so it may have fallen under 10 by now).
    expect(await kilnCli("deployments:show", id)).toMatch(/; now (\d{2,}|\d\.\d) requests a second$/m);
    expect((await server.kiln.deployments.predict(id, [{ a: 1, b: 1 }])).getChild("prediction")!.get(0)).toBe(3);
    // Quiet: back to one once the window has emptied and the delay passed.
    await until(async () => (await server.kiln.deployments.get(id)).replicas === 1, 15_000);
    expect((await server.kiln.deployments.get(id)).state).toBe("ready");
    // --no-autoscale: the replicas stay as they are.
    await kilnCli("deploy", id, model, "--no-autoscale");
    expect((await server.kiln.deployments.get(id)).autoscaling).toBeUndefined();
    expect((await kilnFails("deploy", id, model, "--max-replicas", "3")).stderr).toMatch(/scaling by load takes --max-replicas and --target-rps/);
    await server.kiln.deployments.delete(id);
  });

  it("scales a deployment to zero with no requests, and wakes it for the next one (kiln deploy --scale-to-zero)", async () => {
    const model = unique("sleepy");
    await server.kiln.models.put(model, linearRegressorOnnx([1, 2], 0));
    const id = unique("sleepy");
    await kilnCli("deploy", id, model, "--max-replicas", "2", "--target-rps", "100", "--scale-down-delay", "1", "--scale-to-zero");
    expect(await kilnCli("deployments:show", id)).toMatch(/^autoscaling:\s+1 to 2 replicas while there are requests, none without, one for each 100 requests a second; one goes after 1 s of less; now [\d.]+ requests a second$/m);
    // No request: after the rate window and the delay, no replica, and the executor unloads the model.
    await until(async () => {
      const d = await server.kiln.deployments.get(id);
      return d.replicas === 0 && d.executors.length === 0;
    }, 15_000);
    expect(await server.kiln.deployments.get(id)).toMatchObject({ state: "ready", replicas: 0, readyReplicas: 0 });
    // A request wakes it: it waits for a load, then is answered.
    const woke = Date.now();
    expect((await server.kiln.deployments.predict(id, [{ a: 1, b: 2 }])).getChild("prediction")!.get(0)).toBe(5);
    const coldStartMs = Date.now() - woke;
    expect(await server.kiln.deployments.get(id)).toMatchObject({ replicas: 1, readyReplicas: 1 });
    expect(coldStartMs).toBeLessThan(10_000);
    // Warm now: the next one does not wait.
    expect((await server.kiln.deployments.predict(id, [{ a: 2, b: 2 }])).getChild("prediction")!.get(0)).toBe(6);
    await server.kiln.deployments.delete(id);
  });

  it("stops serving a deleted deployment", async () => {
    const model = unique("linear");
    await server.kiln.models.put(model, linearRegressorOnnx([1], 0));
    const id = unique("gone");
    await server.kiln.deployments.create(id, { model });
    await server.kiln.deployments.delete(id);
    await expect(server.kiln.deployments.get(id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(server.kiln.deployments.delete(id)).rejects.toBeInstanceOf(NotFoundError);
    // At once, although its executor answers until its next heartbeat.
    await expect(server.kiln.deployments.predict(id, [{ x: 1 }])).rejects.toMatchObject({ reason: "DEPLOYMENT_NOT_FOUND" });
  });
});

function tableToIpcBytes(columns: Record<string, number[]>): Uint8Array {
  return tableToIPC(tableFromArrays(Object.fromEntries(Object.entries(columns).map(([k, v]) => [k, Float64Array.from(v)]))), "stream");
}
