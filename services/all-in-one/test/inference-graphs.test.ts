import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Table } from "apache-arrow";
import { beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GRPCInferenceService } from "@kiln/proto/inference/grpc_predict_v2_pb";
import { startHttpReceiver } from "@kiln/core/testing";
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, type InferenceGraphSpec } from "@kiln/sdk";
import { LinearRegression, LogisticRegression, StandardScaler } from "@kiln/sdk/ml";
import { linearRegressorOnnx } from "@kiln/onnx";
import { embeddedServer } from "./embedded-server.js";
import { cli, unique } from "./helpers.js";

const column = (t: Table, name: string) => Array.from({ length: t.numRows }, (_, i) => Number(t.getChild(name)!.get(i)));

describe("inference graphs in embedded mode (deployments chained, routed, ensembled and split)", () => {
  const server = embeddedServer("graphs", { KILN_EXECUTOR_HEARTBEAT_MS: "200" });
  const { kiln: kilnCli, kilnFails, kilnSays } = cli(() => server.url, () => server.dir);
  // Two regressors (2·x0 + x1 and 3·x1 − x0), a classifier behind a scaler, and one that answers the opposite.
  const X = Array.from({ length: 200 }, (_, i) => [Math.sin(i * 12.9898) * 3, Math.cos(i * 78.233) * 3 + 10]);
  const labels = X.map(([a, b]) => (a + b - 10 > 0 ? 1 : 0));
  const rows = [
    { x0: 1, x1: 2, region: "EU" },
    { x0: -1, x1: 4, region: "US" },
    { x0: 2, x1: 0.5, region: "EU" },
    { x0: 0, x1: 1, region: "APAC" },
  ];
  const sumOf = (w: number[]) => rows.map((r) => w[0]! * r.x0 + w[1]! * r.x1);
  const ids = { a: unique("reg-a"), b: unique("reg-b"), scaler: unique("scaler"), clf: unique("clf"), flip: unique("flip") };
  const scaler = new StandardScaler().fit(X);
  const clf = new LogisticRegression().fit(scaler.transform(X), labels);
  const classes = (some: number[][]) => Array.from(clf.predict(scaler.transform(some)), Number);

  beforeAll(async () => {
    // Fitted on the runtime from named rows, as a data scientist's would be: they read their features by name.
    const named = X.map(([x0, x1]) => ({ x0: x0!, x1: x1! }));
    const fits: [string, string, number[] | undefined][] = [
      [ids.a, "linear_regression", X.map(([x0, x1]) => 2 * x0! + x1!)],
      [ids.b, "linear_regression", X.map(([x0, x1]) => 3 * x1! - x0!)],
      [ids.scaler, "standard_scaler", undefined],
    ];
    for (const [id, estimator, y] of fits) {
      await server.kiln.models.create(id, { estimator });
      await (await server.kiln.runtime.model(id).fit(named, y)).get();
    }
    // Fitted here on the scaled matrix: they read a transformer's columns in order.
    await server.kiln.models.put(ids.clf, clf);
    await server.kiln.models.put(ids.flip, new LogisticRegression().fit(scaler.transform(X), labels.map((l) => 1 - l)));
    for (const id of Object.values(ids)) await server.kiln.deployments.create(id, { model: id });
  });

  it("chains a transformer's deployment into a predictor's, as the pipeline answers locally, and names who answered each step", async () => {
    const id = unique("seq");
    const info = await server.kiln.inferenceGraphs.create(id, {
      description: "scale, then classify",
      nodes: { root: { routerType: "Sequence", steps: [{ deployment: ids.scaler, kind: "transform" }, { serviceName: ids.clf } as never] } },
    });
    expect(info).toMatchObject({ id, description: "scale, then classify", nodes: { root: { routerType: "sequence", combine: "side_by_side", steps: [{ name: ids.scaler, deployment: ids.scaler, kind: "transform" }, { name: ids.clf, deployment: ids.clf, kind: "predict" }] } } });
    const some = X.slice(0, 30).map(([x0, x1]) => ({ x0: x0!, x1: x1! }));
    const { table, steps } = await server.kiln.inferenceGraphs.predictWithSteps(id, some);
    expect(table.schema.fields.map((f) => f.name)).toEqual(["prediction"]);
    expect(column(table, "prediction")).toEqual(classes(X.slice(0, 30)));
    expect(steps).toEqual([
      { node: "root", step: ids.scaler, deployment: ids.scaler, modelVersion: (await server.kiln.deployments.get(ids.scaler)).modelVersion, rows: 30, passedOver: false },
      { node: "root", step: ids.clf, deployment: ids.clf, modelVersion: `projects/default/models/${ids.clf}/versions/1`, rows: 30, passedOver: false },
    ]);
    // REQUEST gives a step the node's rows again; RESPONSE_AND_REQUEST the answer beside them.
    await server.kiln.inferenceGraphs.update(id, {
      nodes: { root: { routerType: "sequence", steps: [{ deployment: ids.a }, { deployment: ids.b, data: "$request" }, { name: "again", deployment: ids.a, data: "response_and_request" }] } },
    });
    const back = await server.kiln.inferenceGraphs.predict(id, rows, { keep: ["region"] });
    expect(back.schema.fields.map((f) => f.name)).toEqual(["region", "prediction"]);
    column(back, "prediction").forEach((v, i) => expect(v).toBeCloseTo(sumOf([2, 1])[i]!, 3));
    expect((await server.kiln.inferenceGraphs.get(id)).description).toBe("scale, then classify");
    expect((await server.kiln.inferenceGraphs.list()).map((g) => g.id)).toContain(id);
  });

  it("routes each row by its values to the first step whose condition it meets, and answers in the rows' order", async () => {
    const id = unique("switch");
    await server.kiln.inferenceGraphs.create(id, {
      nodes: { root: { routerType: "switch", steps: [{ name: "europe", deployment: ids.a, condition: 'region = "EU"' }, { name: "rest", deployment: ids.b }] } },
    });
    const { table, steps } = await server.kiln.inferenceGraphs.predictWithSteps(id, rows, { keep: ["region"] });
    const a = sumOf([2, 1]);
    const b = sumOf([-1, 3]);
    column(table, "prediction").forEach((v, i) => expect(v).toBeCloseTo(rows[i]!.region === "EU" ? a[i]! : b[i]!, 3));
    expect(table.getChild("region")!.toArray()).toEqual(["EU", "US", "EU", "APAC"]);
    expect(steps.map((s) => [s.step, s.rows]).sort()).toEqual([["europe", 2], ["rest", 2]]);
    // Only EU rows: the other step is not asked.
    expect((await server.kiln.inferenceGraphs.predictWithSteps(id, [rows[0]!])).steps.map((s) => s.step)).toEqual(["europe"]);

    // Without a step for the rest, a row no condition takes fails the request, naming it.
    await server.kiln.inferenceGraphs.update(id, { nodes: { root: { routerType: "switch", steps: [{ deployment: ids.a, condition: 'region = "EU"' }, { deployment: ids.b, condition: 'region = "US"' }] } } });
    const err = await server.kiln.inferenceGraphs.predict(id, rows).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err).toMatchObject({ reason: "NO_ROUTE", message: expect.stringMatching(/row 4 meets no step's condition/) });
    // A condition on a column the rows lack is the request's fault.
    await expect(server.kiln.inferenceGraphs.predict(id, [{ x0: 1, x1: 2 }])).rejects.toMatchObject({ name: "InvalidArgumentError", message: expect.stringMatching(/unknown column "region"/) });
  });

  it("ensembles deployments side by side, by their mean, or by vote, and nests nodes", async () => {
    const id = unique("ensemble");
    await server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "ensemble", steps: [{ name: "a", deployment: ids.a }, { name: "b", deployment: ids.b }] } } });
    const side = await server.kiln.inferenceGraphs.predict(id, rows);
    expect(side.schema.fields.map((f) => f.name)).toEqual(["a.prediction", "b.prediction"]);
    column(side, "b.prediction").forEach((v, i) => expect(v).toBeCloseTo(sumOf([-1, 3])[i]!, 3));

    await server.kiln.inferenceGraphs.update(id, { nodes: { root: { routerType: "ensemble", combine: "mean", steps: [{ deployment: ids.a }, { deployment: ids.b }] } } });
    const mean = await server.kiln.inferenceGraphs.predict(id, rows);
    expect(mean.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([["prediction", "Float64"]]);
    column(mean, "prediction").forEach((v, i) => expect(v).toBeCloseTo(sumOf([0.5, 2])[i]!, 3));

    // Two of three say the classifier's answer; the scaling is a node of its own each classifier step runs after.
    const some = X.slice(0, 20).map(([x0, x1]) => ({ x0: x0!, x1: x1! }));
    const scaled = (name: string, deployment: string) => ({ routerType: "sequence", steps: [{ name: "scale", deployment: ids.scaler, kind: "transform" as const }, { name, deployment }] });
    await server.kiln.inferenceGraphs.update(id, {
      nodes: {
        root: { routerType: "ensemble", combine: "vote", steps: [{ node: "one" }, { node: "flipped" }, { node: "two" }] },
        one: scaled("clf", ids.clf),
        two: scaled("clf", ids.clf),
        flipped: scaled("flip", ids.flip),
      },
    });
    const { table: vote, steps } = await server.kiln.inferenceGraphs.predictWithSteps(id, some);
    expect(column(vote, "prediction")).toEqual(classes(X.slice(0, 20)));
    expect(steps).toHaveLength(6);
    expect(new Set(steps.map((s) => s.node))).toEqual(new Set(["one", "two", "flipped"]));

    // A regressor's prediction and a classifier's probabilities: no column to average.
    const proba = { routerType: "sequence", steps: [{ deployment: ids.scaler, kind: "transform" as const }, { deployment: ids.clf, kind: "predict_proba" as const }] };
    await server.kiln.inferenceGraphs.update(id, { nodes: { root: { routerType: "ensemble", combine: "mean", steps: [{ deployment: ids.a }, { node: "proba" }] }, proba } });
    await expect(server.kiln.inferenceGraphs.predict(id, rows)).rejects.toMatchObject({ name: "FailedPreconditionError", reason: "NOTHING_TO_COMBINE" });
  });

  it("answers JSON rows with JSON over Connect, as curl would ask", async () => {
    const id = unique("json");
    await server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "ensemble", combine: "mean", steps: [{ deployment: ids.a }, { deployment: ids.b }] } } });
    const res = await fetch(`${server.url}/kiln.runtime.v1.InferenceGraphService/PredictInferenceGraph`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: `projects/default/inferenceGraphs/${id}`, data: [{ id: "r1", x0: 1, x1: 2 }], keepColumns: ["id"] }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { json: { columns: string[]; rows: { id: string; prediction: number }[] }; steps: { step: string; rows: string }[] };
    expect(body.json.columns).toEqual(["id", "prediction"]);
    expect(body.json.rows[0]!.id).toBe("r1");
    expect(body.json.rows[0]!.prediction).toBeCloseTo((2 * 1 + 2 + (3 * 2 - 1)) / 2, 3);
    expect(body.steps.map((s) => [s.step, s.rows])).toEqual([[ids.a, "1"], [ids.b, "1"]]);
    // Bad input is a Connect error with its code, nothing else.
    const bad = await fetch(`${server.url}/kiln.runtime.v1.InferenceGraphService/PredictInferenceGraph`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: `projects/default/inferenceGraphs/${id}` }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: "invalid_argument", message: expect.stringMatching(/the request has no rows/) });
    // Prometheus is told what the graph answered through this scheduler.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const label = `{inference_graph="projects/default/inferenceGraphs/${id}"}`;
    expect(metrics).toContain(`kiln_inference_graph_requests_total${label} 2\n`);
    expect(metrics).toContain(`kiln_inference_graph_failures_total${label} 1\n`);
    expect(metrics).toMatch(new RegExp(`kiln_inference_graph_latency_seconds\\{inference_graph="projects/default/inferenceGraphs/${id}",quantile="0.5"\\} [\\d.e-]+\\n`));
  });

  it("answers the Open Inference Protocol as a model named inferenceGraphs/{id}, over gRPC and REST", async () => {
    const seq = unique("oip-seq");
    await server.kiln.inferenceGraphs.create(seq, { nodes: { root: { routerType: "sequence", steps: [{ deployment: ids.scaler, kind: "transform" }, { deployment: ids.clf }] } } });
    const oip = createClient(GRPCInferenceService, createGrpcTransport({ baseUrl: server.url }));
    // One [N, 2] tensor: the first step's features in order, as a client of the pipeline's model would send them.
    const some = X.slice(0, 6);
    const matrix = await oip.modelInfer({ modelName: `inferenceGraphs/${seq}`, id: "g1", inputs: [{ name: "X", datatype: "FP32", shape: [6n, 2n], contents: { fp32Contents: some.flat() } }] });
    expect(matrix).toMatchObject({ modelName: `inferenceGraphs/${seq}`, modelVersion: "", id: "g1" });
    expect(matrix.outputs.map((o) => [o.name, o.shape.map(Number)])).toEqual([["prediction", [6]]]);
    expect(matrix.outputs[0]!.contents!.int64Contents.map(Number)).toEqual(classes(some));
    // Its full name, raw contents in and out.
    const raw = await oip.modelInfer({
      modelName: `projects/default/inferenceGraphs/${seq}`,
      inputs: [{ name: "X", datatype: "FP64", shape: [6n, 2n] }],
      rawInputContents: [new Uint8Array(Float64Array.from(some.flat()).buffer)],
    });
    expect(Array.from(new BigInt64Array(raw.rawOutputContents[0]!.slice().buffer), Number)).toEqual(classes(some));
    expect(await oip.modelReady({ name: `inferenceGraphs/${seq}` })).toMatchObject({ ready: true });
    // Its inputs are those of the deployment that reads the request's rows (the scaler).
    const meta = await oip.modelMetadata({ name: `inferenceGraphs/${seq}` });
    expect(meta).toMatchObject({ name: `inferenceGraphs/${seq}`, versions: [], platform: "kiln_inference_graph", outputs: [] });
    expect(meta.inputs.map((t) => [t.name, t.datatype, t.shape.map(Number)])).toEqual([["X", "FP32", [-1, 2]]]);
    expect(meta.inputs).toEqual((await oip.modelMetadata({ name: ids.scaler })).inputs);
    // Deployments that read the rows but not the same tensors: none named.
    const wide = unique("wide");
    await server.kiln.models.put(wide, linearRegressorOnnx([1, 2, 3], 0), { format: "onnx" });
    await server.kiln.deployments.create(wide, { model: wide });
    const mixed = unique("oip-mixed");
    await server.kiln.inferenceGraphs.create(mixed, { nodes: { root: { routerType: "ensemble", steps: [{ deployment: ids.a }, { deployment: wide }] } } });
    expect((await oip.modelMetadata({ name: `inferenceGraphs/${mixed}` })).inputs).toEqual([]);

    // A switch reads its rows' columns by name: one tensor [N] per column, text as BYTES.
    const routed = unique("oip-switch");
    await server.kiln.inferenceGraphs.create(routed, { nodes: { root: { routerType: "switch", steps: [{ deployment: ids.a, condition: 'region = "EU"' }, { deployment: ids.b }] } } });
    const columns = {
      inputs: [
        { name: "x0", datatype: "FP64", shape: [4], data: rows.map((r) => r.x0) },
        { name: "x1", datatype: "FP64", shape: [4], data: rows.map((r) => r.x1) },
        { name: "region", datatype: "BYTES", shape: [4], data: rows.map((r) => r.region) },
      ],
    };
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${server.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { outputs?: { name: string; data: number[] }[]; error?: string; model_name?: string } };
    };
    const expected = rows.map((r, i) => (r.region === "EU" ? sumOf([2, 1])[i]! : sumOf([-1, 3])[i]!));
    for (const path of [`/v2/models/inferenceGraphs/${routed}/infer`, `/v2/models/${encodeURIComponent(`inferenceGraphs/${routed}`)}/infer`, `/v2/models/projects/default/inferenceGraphs/${routed}/infer`]) {
      const { status, body } = await post(path, columns);
      expect(status).toBe(200);
      expect(body.outputs!.map((o) => o.name)).toEqual(["prediction"]);
      body.outputs![0]!.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    }
    // A switch reads columns by name, which no model's tensors say: its metadata names none.
    expect((await oip.modelMetadata({ name: `inferenceGraphs/${routed}` })).inputs).toEqual([]);
    const ready = await fetch(`${server.url}/v2/models/inferenceGraphs/${routed}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { name: `inferenceGraphs/${routed}`, ready: true }]);

    // What a graph cannot take: a version, a kind (its steps say theirs); and one that does not exist.
    const code = async (call: Promise<unknown>) => call.then(() => "ok", (e: { code: number; rawMessage: string }) => [e.code, e.rawMessage]);
    const one = { inputs: [{ name: "X", datatype: "FP32", shape: [1n, 2n], contents: { fp32Contents: [0, 10] } }] };
    expect(await code(oip.modelInfer({ modelName: `inferenceGraphs/${seq}`, modelVersion: "1", ...one }))).toEqual([5, expect.stringContaining("has no versions")]);
    expect(await code(oip.modelInfer({ modelName: `inferenceGraphs/${seq}`, parameters: { kind: { parameterChoice: { case: "stringParam", value: "predict_proba" } } }, ...one }))).toEqual([3, expect.stringContaining("its steps say")]);
    expect(await code(oip.modelInfer({ modelName: `inferenceGraphs/${unique("none")}`, ...one }))).toEqual([5, expect.stringContaining("does not exist")]);
    expect((await post(`/v2/models/inferenceGraphs/${unique("none")}/infer`, columns)).status).toBe(404);
  });

  it("speaks KServe's V1 protocol for deployments and graphs: instances in, predictions out", async () => {
    const url = server.url;
    const call = async (path: string, body?: unknown) => {
      const res = await fetch(`${url}${path}`, body === undefined ? {} : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as { predictions?: unknown[]; error?: string; models?: string[] } };
    };
    // A deployment: rows as arrays of its features in order; probabilities as each row's values.
    const some = X.slice(0, 5);
    expect(await call(`/v1/models/${ids.scaler}`)).toEqual({ status: 200, body: { name: ids.scaler, ready: true } });
    const m = scaler.transform(some);
    const scaled = Array.from({ length: m.rows }, (_, r) => Array.from(m.data.subarray(r * m.cols, (r + 1) * m.cols)));
    const labels = await call(`/v1/models/${ids.clf}:predict`, { instances: scaled });
    expect(labels).toEqual({ status: 200, body: { predictions: classes(some) } });
    const proba = await call(`/v1/models/${ids.clf}:predict`, { instances: scaled, parameters: { kind: "predict_proba" } });
    const rowsOfProba = proba.body.predictions as number[][];
    expect(rowsOfProba).toHaveLength(5);
    rowsOfProba.forEach((p, i) => {
      expect(p[0]! + p[1]!).toBeCloseTo(1, 5);
      expect(p[1]! > 0.5 ? 1 : 0).toBe(classes(some)[i]);
    });

    // A graph: objects of named columns, as its switch reads them; its name as path segments.
    const routed = unique("v1-switch");
    await server.kiln.inferenceGraphs.create(routed, { nodes: { root: { routerType: "switch", steps: [{ deployment: ids.a, condition: 'region = "EU"' }, { deployment: ids.b }] } } });
    const graphAnswer = await call(`/v1/models/inferenceGraphs/${routed}:predict`, { instances: rows });
    expect(graphAnswer.status).toBe(200);
    (graphAnswer.body.predictions as number[]).forEach((v, i) => expect(v).toBeCloseTo(rows[i]!.region === "EU" ? sumOf([2, 1])[i]! : sumOf([-1, 3])[i]!, 3));
    expect(await call(`/v1/models/inferenceGraphs/${routed}`)).toEqual({ status: 200, body: { name: `inferenceGraphs/${routed}`, ready: true } });
    expect((await call("/v1/models")).body.models).toEqual(expect.arrayContaining([ids.a, ids.clf, `inferenceGraphs/${routed}`]));

    // Errors as {"error"} with the status of their code; nothing else answered.
    expect(await call(`/v1/models/${ids.a}:predict`, { rows })).toMatchObject({ status: 400, body: { error: expect.stringContaining('{"instances": [...]}') } });
    expect(await call(`/v1/models/${ids.clf}:predict`, { instances: scaled, parameters: { kind: "explain" } })).toMatchObject({ status: 400 });
    expect(await call(`/v1/models/inferenceGraphs/${routed}:predict`, { instances: rows, parameters: { kind: "predict" } })).toMatchObject({ status: 400, body: { error: expect.stringContaining("its steps say") } });
    expect(await call(`/v1/models/${unique("none")}:predict`, { instances: scaled })).toMatchObject({ status: 404 });
    expect((await call(`/v1/models/${ids.a}:predict`)).status).toBe(404); // predict is a POST
    expect((await call(`/v1/models/${ids.a}:explain`, { instances: scaled })).status).toBe(404);
  });

  it("splits requests across deployments by weight, each request answered whole by one", async () => {
    const id = unique("split");
    await server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "splitter", steps: [{ name: "a", deployment: ids.a, weight: 50 }, { name: "b", deployment: ids.b, weight: 50 }] } } });
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const { table, steps } = await server.kiln.inferenceGraphs.predictWithSteps(id, rows);
      expect(steps).toHaveLength(1);
      const step = steps[0]!.step;
      seen.set(step, (seen.get(step) ?? 0) + 1);
      const expected = step === "a" ? sumOf([2, 1]) : sumOf([-1, 3]);
      column(table, "prediction").forEach((v, j) => expect(v).toBeCloseTo(expected[j]!, 3));
    }
    // 60 fair coin flips all landing one way: 2^-59.
    expect([...seen.keys()].sort()).toEqual(["a", "b"]);
  });

  it("passes over SOFT steps that fail, saying why, in ensembles, sequences and nested nodes", async () => {
    const gone = unique("soft-gone");
    await server.kiln.models.put(gone, new LinearRegression().fit(X, X.map(([x0]) => x0!)));
    await server.kiln.deployments.create(gone, { model: gone });
    // Each graph made while the deployment is there: one naming a deployment that does not exist is refused.
    const graph = async (nodes: InferenceGraphSpec["nodes"]) => (await server.kiln.inferenceGraphs.create(unique("soft"), { nodes })).id;
    const blend = await graph({ root: { routerType: "ensemble", combine: "mean", steps: [{ deployment: ids.a }, { deployment: ids.b }, { name: "spare", deployment: gone, dependency: "Soft" }] } });
    const chain = await graph({ root: { routerType: "sequence", steps: [{ name: "spare", deployment: gone, dependency: "soft" }, { deployment: ids.a }] } });
    const nested = await graph({
      root: { routerType: "ensemble", steps: [{ name: "a", deployment: ids.a }, { name: "extra", node: "extra", dependency: "soft" }] },
      extra: { routerType: "sequence", steps: [{ deployment: ids.b }, { name: "broken", deployment: gone }] },
    });
    const noneLeft = await graph({
      root: { routerType: "ensemble", steps: [{ name: "x", node: "extra", dependency: "soft" }, { name: "y", deployment: gone, dependency: "soft" }] },
      extra: { routerType: "sequence", steps: [{ deployment: gone }] },
    });
    expect((await server.kiln.inferenceGraphs.get(blend)).nodes.root!.steps[2]).toEqual({ name: "spare", deployment: gone, kind: "predict", dependency: "soft" });
    expect(await kilnCli("inference-graphs:show", blend)).toContain(`  spare: deployment ${gone}, soft\n`);
    await server.kiln.deployments.delete(gone);

    // The mean of the two that answered.
    const { table: mean, steps } = await server.kiln.inferenceGraphs.predictWithSteps(blend, rows);
    column(mean, "prediction").forEach((v, i) => expect(v).toBeCloseTo(sumOf([0.5, 2])[i]!, 3));
    expect(steps.find((s) => s.step === "spare")).toEqual({
      node: "root",
      step: "spare",
      deployment: gone,
      modelVersion: "",
      rows: 0,
      passedOver: true,
      failure: { code: "FAILED_PRECONDITION", reason: "DEPLOYMENT_NOT_FOUND", message: expect.stringMatching(/^deployment .* does not exist/) },
    });
    expect(steps.filter((s) => s.passedOver)).toHaveLength(1);

    // In a sequence the next step is given what it would have been without it.
    column(await server.kiln.inferenceGraphs.predict(chain, rows), "prediction").forEach((v, i) => expect(v).toBeCloseTo(sumOf([2, 1])[i]!, 3));

    // A SOFT node: its failing (hard) step fails the node, and the ensemble goes on without it.
    const inner = await server.kiln.inferenceGraphs.predictWithSteps(nested, rows);
    expect(inner.table.schema.fields.map((f) => f.name)).toEqual(["a.prediction"]);
    expect(inner.steps.filter((s) => s.failure).map((s) => [s.node, s.step, s.deployment, s.passedOver, s.failure!.reason])).toEqual([
      ["extra", "broken", gone, false, "DEPLOYMENT_NOT_FOUND"],
      ["root", "extra", "", true, "DEPLOYMENT_NOT_FOUND"],
    ]);
    expect(inner.steps.find((s) => s.step === "extra")!.failure!.message).toMatch(/^node extra, step broken: deployment .* does not exist/);
    const said = await kilnSays("inference-graphs:predict", nested, JSON.stringify(rows.slice(0, 1)));
    expect(said.stdout).toBe(`a.prediction\n4\n`);
    expect(said.stderr).toMatch(/^passed over node root, step extra: node extra, step broken: deployment .* does not exist/);

    // When every step failed there is nothing to answer with: the first step's error.
    await expect(server.kiln.inferenceGraphs.predict(noneLeft, rows)).rejects.toMatchObject({ name: "FailedPreconditionError", reason: "DEPLOYMENT_NOT_FOUND", message: expect.stringMatching(/^node extra, step soft-gone-[0-9a-f]+: deployment .* does not exist/) });

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const passedOver = (id: string) => metrics.match(new RegExp(`kiln_inference_graph_steps_passed_over_total\\{inference_graph="projects/default/inferenceGraphs/${id}"\\} (\\d+)`))?.[1];
    expect([blend, chain, nested, noneLeft].map(passedOver)).toEqual(["1", "1", "2", "0"]);
  });

  it("refuses graphs that cannot run, naming the node and step, and changes nothing", async () => {
    const id = unique("bad");
    const refused = async (nodes: Record<string, unknown>, pattern: RegExp) => {
      const err = await server.kiln.inferenceGraphs.create(id, { nodes: nodes as never }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(pattern);
    };
    const step = { deployment: ids.a };
    await refused({}, /at least the node "root"/);
    await refused({ first: { routerType: "sequence", steps: [step] } }, /there is no node "root"/);
    await refused({ root: { routerType: "sequence", steps: [] } }, /node root: a node has 1 to 32 steps, got 0/);
    await refused({ root: { routerType: "pipeline", steps: [step] } }, /routerType is one of sequence, switch, ensemble, splitter, not "pipeline"/);
    await refused({ root: { routerType: "sequence", steps: [{ node: "loop" }] }, loop: { routerType: "sequence", steps: [{ node: "root" }] } }, /node root is reached again from itself \(root → loop → root\)/);
    await refused({ root: { routerType: "sequence", steps: [step] }, spare: { routerType: "sequence", steps: [step] } }, /node spare is not reached from "root"/);
    await refused({ root: { routerType: "sequence", steps: [step, step] } }, /two steps are named/);
    await refused({ root: { routerType: "switch", steps: [{ deployment: ids.a, condition: "region = " }, step] } }, /node root, step 1: condition "region = ": /);
    await refused({ root: { routerType: "switch", steps: [{ name: "all", deployment: ids.a }, { deployment: ids.b, condition: 'region = "EU"' }] } }, /step all has no condition.*put it last/);
    await refused({ root: { routerType: "splitter", steps: [{ deployment: ids.a, weight: 50 }, { deployment: ids.b, weight: 40 }] } }, /weights add up to 100, got 90/);
    await refused({ root: { routerType: "sequence", steps: [{ deployment: ids.a, weight: 50 }] } }, /weight is a SPLITTER step's/);
    await refused({ root: { routerType: "ensemble", steps: [{ deployment: ids.a, kind: "explain" }] } }, /kind is one of predict, predict_proba, transform/);
    await refused({ root: { routerType: "switch", steps: [{ deployment: ids.a, dependency: "soft" }] } }, /node root, step .*: only SEQUENCE and ENSEMBLE steps can be SOFT/);
    await refused({ root: { routerType: "sequence", steps: [step, { deployment: ids.b, dependency: "soft" }] } }, /node root: the last step of a SEQUENCE gives the node's answer, so it cannot be SOFT/);
    await refused({ root: { routerType: "ensemble", steps: [{ deployment: ids.a, dependency: "optional" }] } }, /dependency is one of hard, soft, not "optional"/);
    await expect(server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "sequence", steps: [{ deployment: "nowhere" }] } } })).rejects.toBeInstanceOf(NotFoundError);
    await expect(server.kiln.inferenceGraphs.get(id)).rejects.toMatchObject({ name: "NotFoundError", reason: "INFERENCE_GRAPH_NOT_FOUND" });

    await server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "sequence", steps: [step] } } });
    await expect(server.kiln.inferenceGraphs.create(id, { nodes: { root: { routerType: "sequence", steps: [step] } } })).rejects.toBeInstanceOf(AlreadyExistsError);
    // A refused update leaves the graph as it was.
    await expect(server.kiln.inferenceGraphs.update(id, { nodes: { root: { routerType: "sequence", steps: [{ deployment: "nowhere" }] } } })).rejects.toBeInstanceOf(NotFoundError);
    expect((await server.kiln.inferenceGraphs.get(id)).nodes.root!.steps).toEqual([{ name: ids.a, deployment: ids.a, kind: "predict" }]);
    await expect(server.kiln.inferenceGraphs.predict(id, rows, { keep: ["nope"] })).rejects.toMatchObject({ name: "InvalidArgumentError", reason: "UNKNOWN_COLUMN" });

    // A deployment deleted after: the step says so.
    const gone = unique("gone");
    await server.kiln.models.put(gone, new LinearRegression().fit(X, X.map(([x0]) => x0!)));
    await server.kiln.deployments.create(gone, { model: gone });
    await server.kiln.inferenceGraphs.update(id, { nodes: { root: { routerType: "sequence", steps: [{ name: "first", deployment: gone }, step] } } });
    await server.kiln.deployments.delete(gone);
    await expect(server.kiln.inferenceGraphs.predict(id, rows)).rejects.toMatchObject({ name: "FailedPreconditionError", reason: "DEPLOYMENT_NOT_FOUND", message: expect.stringMatching(/^node root, step first: deployment .* does not exist/) });

    await server.kiln.inferenceGraphs.delete(id);
    await expect(server.kiln.inferenceGraphs.delete(id)).rejects.toBeInstanceOf(NotFoundError);
    // Its deployments stay.
    expect((await server.kiln.deployments.get(ids.a)).state).toBe("ready");
  });

  it("tells webhooks of its graphs being made, changed and deleted", async () => {
    const receiver = await startHttpReceiver(() => 204);
    const hook = unique("graph-hook");
    try {
      await server.kiln.webhooks.create(hook, { url: receiver.url, events: ["inference_graph.*"] });
      const id = unique("watched");
      const nodes = { root: { routerType: "sequence", steps: [{ deployment: ids.a }] } };
      await server.kiln.inferenceGraphs.create(id, { nodes });
      await server.kiln.inferenceGraphs.update(id, { description: "now described" });
      await server.kiln.inferenceGraphs.delete(id);
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(3);
      const bodies = receiver.received.map((r) => JSON.parse(r.body) as { event: string; resource: string; data: { inferenceGraph: { description?: string } } });
      // Delivered at once, so in any order.
      expect(bodies.map((b) => [b.event, b.resource]).sort()).toEqual(["created", "deleted", "updated"].map((e) => [`inference_graph.${e}`, `projects/default/inferenceGraphs/${id}`]));
      expect(bodies.find((b) => b.event === "inference_graph.updated")!.data.inferenceGraph.description).toBe("now described");
    } finally {
      await server.kiln.webhooks.delete(hook);
      await receiver.close();
    }
  });

  it("kiln inference-graph applies a spec file (KServe's spelling too); inference-graphs lists, shows, predicts and deletes", async () => {
    const id = unique("cli");
    const spec = join(server.dir, `${id}.json`);
    await writeFile(spec, JSON.stringify({ nodes: { root: { routerType: "Switch", steps: [{ serviceName: ids.a, condition: "x0 > 0" }, { serviceName: ids.b }] } } }));
    expect(await kilnCli("inference-graph", id, spec)).toBe(`${id}: created (1 node, 2 deployments)\n`);
    expect(await kilnCli("inference-graph", id, spec, "--description", "by sign")).toBe(`${id}: updated (1 node, 2 deployments)\n`);
    // Applied again without one, the description stays.
    expect(await kilnCli("inference-graph", id, spec)).toBe(`${id}: updated (1 node, 2 deployments)\n`);
    expect(await kilnCli("inference-graphs")).toMatch(new RegExp(`^${id}\\s+1\\s+by sign$`, "m"));
    const shown = await kilnCli("inference-graphs:show", id);
    expect(shown).toContain(`root: switch\n  ${ids.a}: deployment ${ids.a} where x0 > 0\n  ${ids.b}: deployment ${ids.b}\n`);
    const input = join(server.dir, `${id}.csv`);
    await writeFile(input, "x0,x1\n1,2\n-1,4\n");
    expect(await kilnCli("inference-graphs:predict", id, input)).toBe(`prediction\n4\n13\n`);
    expect((await kilnFails("inference-graph", id, join(server.dir, "missing.json"))).stderr).toMatch(/missing\.json/);
    await kilnCli("inference-graphs:delete", id);
    expect((await kilnFails("inference-graphs:show", id)).stderr).toMatch(/does not exist/);
  });
});
