import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays, tableToIPC, type Table } from "apache-arrow";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { linearRegressorOnnx } from "@kiln/onnx";
import { FailedPreconditionError, InvalidArgumentError, Kiln, NotFoundError, type Explanation } from "@kiln/sdk";
import { GradientBoostingRegressor, KMeans, Pipeline, SimpleImputer, StandardScaler } from "@kiln/sdk/ml";
import { runEmbedded } from "../src/index.js";
import { unique } from "./helpers.js";

const column = (table: Table, name: string) => Array.from(table.getChild(name)!.toArray() as ArrayLike<number>, Number);

/** Two separable blobs: class 1 when x0 + x1 > 0. */
function blobs(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({ x0: Math.sin(i * 12.9898) * 2, x1: Math.cos(i * 78.233) * 2 }));
  return { X: rows, y: rows.map(({ x0, x1 }) => ({ label: x0 + x1 > 0 ? 1 : 0 })) };
}

describe("EXPLAIN jobs: Shapley values of a model's outputs", () => {
  let dir: string;
  let running: RunningProcess;
  let kiln: Kiln;
  const n = 300;
  const features = {
    id: Int32Array.from({ length: n }, (_, i) => 1000 + i),
    a: Float64Array.from({ length: n }, (_, i) => Math.sin(i)),
    b: Float64Array.from({ length: n }, (_, i) => (i % 7) - 3),
    c: Float64Array.from({ length: n }, (_, i) => Math.cos(i * 0.3) * 4),
  };
  const coef = [1.5, -0.25, 2];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-explain-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    kiln = await Kiln.connect(running.server.url);
    await kiln.datasets.put("explain-rows", tableFromArrays(features));
    const data = blobs(400);
    await kiln.datasets.put("explain-blobs-x", data.X);
    await kiln.datasets.put("explain-blobs-y", data.y);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("gives a linear model's features each its weight times their distance from the background's mean, adding up to the prediction", async () => {
    const model = unique("explained-linear");
    await kiln.models.put(model, linearRegressorOnnx(coef, 0.25));
    const X = { dataset: "explain-rows", columns: ["a", "b", "c"], filter: "id < 1010" };
    const job = await kiln.runtime.model(model).explain(X, { background: { dataset: "explain-rows", columns: ["a", "b", "c"] }, backgroundRows: 1000, keep: ["id"], output: "explained" });
    const explanation = await job.get();
    const { rows } = explanation;
    expect(rows.schema.fields.map((f) => f.name)).toEqual(["id", "prediction", "base_value", "shap_a", "shap_b", "shap_c"]);
    expect(column(rows, "id")).toEqual(Array.from({ length: 10 }, (_, i) => 1000 + i));
    const mean = (values: Float64Array) => values.reduce((s, v) => s + v, 0) / values.length;
    const means = [mean(features.a), mean(features.b), mean(features.c)];
    const base = coef.reduce((s, w, j) => s + w * means[j]!, 0.25);
    ["a", "b", "c"].forEach((name, j) => {
      column(rows, `shap_${name}`).forEach((v, i) => expect(v).toBeCloseTo(coef[j]! * (features[name as "a"][i]! - means[j]!), 4));
    });
    const predictions = column(rows, "prediction");
    column(rows, "base_value").forEach((b, i) => {
      expect(b).toBeCloseTo(base, 4);
      expect(b + column(rows, "shap_a")[i]! + column(rows, "shap_b")[i]! + column(rows, "shap_c")[i]!).toBeCloseTo(predictions[i]!, 9);
    });
    expect(explanation).toMatchObject({ method: "exact", permutations: 0, backgroundRows: n, background: { dataset: "explain-rows", version: 1, columns: ["a", "b", "c"] } });
    expect(explanation.outputs).toHaveLength(1);
    expect(explanation.outputs[0]).toMatchObject({ output: "prediction", rows: 10 });
    expect(explanation.outputs[0]!.features.map((f) => f.feature)).toEqual(["c", "a", "b"]); // largest mean |value| first

    const info = await job.info();
    expect(info).toMatchObject({ kind: "explain", state: "succeeded", result: { rows: 10, output: { name: "projects/default/datasets/explained", version: 1 } } });
    expect(info.result!.metrics["importance.c"]).toBeCloseTo(explanation.outputs[0]!.features[0]!.meanAbs, 12);
    const written = (await kiln.datasets.get("explained")) as Table;
    expect(written.numRows).toBe(10);
    expect(column(written, "shap_c")).toEqual(column(rows, "shap_c"));
  });

  it("explains each row's predicted class by its probability, or one class on every row, against the data the model was trained on", async () => {
    const model = unique("explained-classifier");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(model).fit("explain-blobs-x", "explain-blobs-y")).get();
    const X = { dataset: "explain-blobs-x", filter: "x0 > 1.5" };
    const explanation = await (await kiln.runtime.model(model).explain(X, { backgroundRows: 50, randomState: 3 })).get();
    const { rows } = explanation;
    expect(rows.schema.fields.map((f) => f.name)).toEqual(["class", "probability", "base_value", "shap_x0", "shap_x1"]);
    const proba = await (await kiln.runtime.model(model).predictProba(X)).get();
    const classes = column(rows, "class");
    classes.forEach((c, i) => {
      const p = proba.getChild(`probability_${c}`)!.get(i) as number;
      expect(column(rows, "probability")[i]).toBeCloseTo(p, 6);
      expect(p).toBeGreaterThanOrEqual(0.5);
      expect(column(rows, "base_value")[i]! + column(rows, "shap_x0")[i]! + column(rows, "shap_x1")[i]!).toBeCloseTo(p, 9);
    });
    expect(explanation).toMatchObject({ method: "exact", backgroundRows: 50, background: { dataset: "explain-blobs-x", version: 1 } });
    expect(explanation.outputs.map((o) => o.output).sort()).toEqual([...new Set(classes.map(String))].sort());
    expect(explanation.outputs.reduce((s, o) => s + o.rows, 0)).toBe(rows.numRows);

    const ofOne = await (await kiln.runtime.model(model).explain(X, { backgroundRows: 50, randomState: 3, class: 0 })).get();
    expect(new Set(column(ofOne.rows, "class"))).toEqual(new Set([0]));
    expect(ofOne.outputs.map((o) => o.output)).toEqual(["0"]);
    // The two classes' probabilities add up to 1, so their values are each other's negatives.
    const flip = column(rows, "class").map((c) => (c === 0 ? 1 : -1));
    column(ofOne.rows, "shap_x0").forEach((v, i) => expect(v).toBeCloseTo(flip[i]! * column(rows, "shap_x0")[i]!, 6));

    // A model linked to an experiment logs each explanation as a run, its features' importance as metrics.
    const history = unique("explained-history");
    await kiln.models.setMetadata(model, { tracking: { default: history } });
    await (await kiln.runtime.model(model).explain(X, { backgroundRows: 50, randomState: 3 })).get();
    const logged = await kiln.experiment(history).data({ run: "all", filter: 'event = "metric"' });
    expect(logged.map((e) => e.key).sort()).toEqual(["importance.x0", "importance.x1"]);

    await expect((await kiln.runtime.model(model).explain(X, { class: 7 })).get()).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "UNKNOWN_CLASS", message: expect.stringContaining("has no class 7 (its classes: 0, 1)") });
  });

  it("samples orderings of the features, the same for the same random_state, still adding up to the output", async () => {
    const model = unique("explained-permutations");
    await kiln.models.put(model, linearRegressorOnnx(coef, 0.25));
    const options = { background: { dataset: "explain-rows", columns: ["a", "b", "c"] }, method: "permutation" as const, permutations: 3, randomState: 11 };
    const X = { dataset: "explain-rows", columns: ["a", "b", "c"], filter: "id < 1020" };
    const first = await (await kiln.runtime.model(model).explain(X, options)).get();
    const again = await (await kiln.runtime.model(model).explain(X, options)).get();
    expect(first).toMatchObject({ method: "permutation", permutations: 3, backgroundRows: 100 });
    for (const name of ["shap_a", "shap_b", "shap_c", "base_value"]) expect(column(again.rows, name)).toEqual(column(first.rows, name));
    const sums = column(first.rows, "base_value").map((b, i) => b + column(first.rows, "shap_a")[i]! + column(first.rows, "shap_b")[i]! + column(first.rows, "shap_c")[i]!);
    sums.forEach((s, i) => expect(s).toBeCloseTo(column(first.rows, "prediction")[i]!, 9));
  });

  it("explains tree ensembles by Tree SHAP: a forest's values are the exact method's, taken by auto; a boosted classifier's add up to its margin", async () => {
    const sum = (rows: Table, names: string[], i: number) => names.reduce((s, name) => s + column(rows, name)[i]!, column(rows, "base_value")[i]!);
    const forest = unique("explained-forest");
    const wide = { ...features, d: Float64Array.from({ length: n }, (_, i) => ((i * 37) % 11) - 5) };
    await kiln.datasets.put("explain-wide", tableFromArrays(wide));
    const names = ["a", "b", "c", "d"];
    const shaps = names.map((f) => `shap_${f}`);
    await kiln.models.create(forest, { estimator: "random_forest_regressor", params: { nEstimators: 12, maxDepth: 5, randomState: 0 } });
    const target = Array.from({ length: n }, (_, i) => ({ y: wide.a[i]! * wide.c[i]! + (wide.b[i]! > 0 ? 2 : 0) - wide.d[i]! / 3 }));
    await (await kiln.runtime.model(forest).fit({ dataset: "explain-wide", columns: names }, target)).get();
    const X = { dataset: "explain-wide", columns: names, filter: "id < 1040" };
    const options = { background: { dataset: "explain-wide", columns: names }, backgroundRows: 60, randomState: 2 };
    const byTree = await (await kiln.runtime.model(forest).explain(X, { ...options, method: "tree" })).get();
    const exact = await (await kiln.runtime.model(forest).explain(X, { ...options, method: "exact" })).get();
    const auto = await (await kiln.runtime.model(forest).explain(X, options)).get();
    expect(byTree).toMatchObject({ method: "tree", permutations: 0, backgroundRows: 60, outputSpace: "output" });
    expect(auto).toMatchObject({ method: "tree", outputSpace: "output" }); // 4 features or more
    expect(exact.method).toBe("exact");
    expect(byTree.rows.schema.fields.map((f) => f.name)).toEqual(["prediction", "base_value", ...shaps]);
    for (const name of [...shaps, "base_value"]) {
      // onnxruntime sums the exact method's leaves in float32; Tree SHAP in float64
      column(byTree.rows, name).forEach((v, i) => expect(Math.abs(v - column(exact.rows, name)[i]!)).toBeLessThan(1e-5));
    }
    expect(column(auto.rows, "shap_c")).toEqual(column(byTree.rows, "shap_c"));
    column(byTree.rows, "prediction").forEach((p, i) => expect(Math.abs(sum(byTree.rows, shaps, i) - p)).toBeLessThan(1e-5));
    expect(column(byTree.rows, "shap_a").some((v) => Math.abs(v) > 0.1)).toBe(true);

    // Online, a deployment's explainer set to the tree method: the same values as the job's, row for row.
    const deployment = unique("why-forest");
    await kiln.deployments.create(deployment, { model: forest, explainer: { background: "explain-wide", backgroundRows: 60, method: "tree" } });
    const asked = [{ a: 0.5, b: 2, c: -1, d: 4 }, { a: -0.2, b: -3, c: 3, d: -1 }];
    const online = await kiln.deployments.explain(deployment, asked, { randomState: 2 });
    const asJob = await (await kiln.runtime.model(forest).explain(asked, { background: "explain-wide", backgroundRows: 60, randomState: 2, method: "tree" })).get();
    expect(online.schema.fields.map((f) => f.name)).toEqual(["prediction", "base_value", ...shaps]);
    for (const name of [...shaps, "base_value"]) expect(column(online, name)).toEqual(column(asJob.rows, name));
    await kiln.deployments.delete(deployment);

    // A pipeline whose preprocessing is per feature (an imputer, a scaler) before the trees: Tree SHAP on what the trees read, each feature standing for its input.
    const piped = unique("explained-pipeline");
    const wideRows = Array.from({ length: n }, (_, i) => names.map((f) => wide[f as keyof typeof wide][i]!));
    await kiln.models.put(piped, new Pipeline([new SimpleImputer(), new StandardScaler(), new GradientBoostingRegressor({ maxIter: 20, maxDepth: 3 })]).fit(wideRows, target.map((t) => t.y)));
    const pipedOptions = { background: { dataset: "explain-wide", columns: names }, backgroundRows: 60, randomState: 2 };
    const pipedX = { dataset: "explain-wide", columns: names, filter: "id < 1020" };
    const pipedTree = await (await kiln.runtime.model(piped).explain(pipedX, pipedOptions)).get();
    const pipedExact = await (await kiln.runtime.model(piped).explain(pipedX, { ...pipedOptions, method: "exact" })).get();
    expect(pipedTree).toMatchObject({ method: "tree", outputSpace: "output" });
    for (const name of [...shaps, "base_value"]) column(pipedTree.rows, name).forEach((v, i) => expect(Math.abs(v - column(pipedExact.rows, name)[i]!)).toBeLessThan(1e-5));
    expect(column(pipedTree.rows, "shap_d").some((v) => Math.abs(v) > 0.01)).toBe(true);

    const boosted = unique("explained-boosted");
    await kiln.models.create(boosted, { estimator: "gradient_boosting_classifier", params: { maxIter: 15, maxDepth: 3, randomState: 0 } });
    await (await kiln.runtime.model(boosted).fit("explain-blobs-x", "explain-blobs-y")).get();
    const B = { dataset: "explain-blobs-x", filter: "x0 > 1" };
    const margins = await (await kiln.runtime.model(boosted).explain(B, { backgroundRows: 80, method: "tree" })).get();
    expect(margins).toMatchObject({ method: "tree", outputSpace: "margin" });
    expect(margins.rows.schema.fields.map((f) => f.name)).toEqual(["class", "probability", "margin", "base_value", "shap_x0", "shap_x1"]);
    column(margins.rows, "margin").forEach((m, i) => {
      expect(Math.abs(sum(margins.rows, ["shap_x0", "shap_x1"], i) - m)).toBeLessThan(1e-9);
      // the margin is the log-odds of the row's class
      expect(1 / (1 + Math.exp(-m))).toBeCloseTo(column(margins.rows, "probability")[i]!, 5);
    });
    // auto keeps explaining the probability itself, which a margin's values do not add up to (and 2 features take exact anyway)
    const probabilities = await (await kiln.runtime.model(boosted).explain(B, { backgroundRows: 80 })).get();
    expect(probabilities).toMatchObject({ method: "exact", outputSpace: "output" });
    expect(probabilities.rows.schema.fields.map((f) => f.name)).not.toContain("margin");
    const wideBoosted = unique("explained-boosted-wide");
    await kiln.models.create(wideBoosted, { estimator: "gradient_boosting_classifier", params: { maxIter: 10, maxDepth: 3 } });
    await (await kiln.runtime.model(wideBoosted).fit({ dataset: "explain-wide", columns: names }, target.map((t) => ({ label: t.y > 0 ? 1 : 0 })))).get();
    const wideAuto = await (await kiln.runtime.model(wideBoosted).explain(X, options)).get();
    expect(wideAuto).toMatchObject({ method: "exact", outputSpace: "output" }); // 4 features, but a margin is explained only when asked for

    const linear = unique("explained-not-trees");
    await kiln.models.put(linear, linearRegressorOnnx(coef, 0.25));
    await expect((await kiln.runtime.model(linear).explain({ dataset: "explain-rows", columns: ["a", "b", "c"] }, { background: "explain-rows", method: "tree" })).get()).rejects.toMatchObject({
      reason: "NOT_A_TREE_ENSEMBLE",
      message: expect.stringContaining('method "tree" explains tree ensembles'),
    });
  });

  it("runs on a schedule, each day's rows explained by a date template against a background named as y", async () => {
    const model = unique("explained-scheduled");
    await kiln.models.put(model, linearRegressorOnnx(coef, 0.25));
    const day = "2026-11-30";
    await kiln.datasets.put(`explain-day-${day}`, tableFromArrays({ a: Float64Array.of(1, 2), b: Float64Array.of(0, 1), c: Float64Array.of(3, 3) }));
    const id = unique("nightly-explain");
    await kiln.schedules.create(id, {
      cron: "0 3 * * *",
      paused: true,
      job: { kind: "explain", model, x: "explain-day-{{date}}", y: { dataset: "explain-rows", columns: ["a", "b", "c"] }, backgroundRows: 40, method: "permutation", permutations: 2 },
    });
    const [run] = await kiln.schedules.backfill(id, { from: new Date(`${day}T00:00:00Z`), to: new Date(`${day}T23:59:59Z`) });
    expect(run).toMatchObject({ error: "" });
    const explanation = (await kiln.runtime.job(run!.job).get()) as Explanation;
    expect(explanation).toMatchObject({ method: "permutation", permutations: 2, backgroundRows: 40, background: { dataset: "explain-rows" } });
    expect(explanation.rows.numRows).toBe(2);
    expect(await kiln.runtime.job(run!.job).info()).toMatchObject({ schedule: `projects/default/schedules/${id}`, x: { dataset: `projects/default/datasets/explain-day-${day}` }, params: { background_rows: 40 } });
  });

  it("explains a deployment's rows online (KServe's explainer), the background kept between requests, also over the Open Inference Protocol", async () => {
    const uploaded = unique("explained-online");
    await kiln.models.put(uploaded, linearRegressorOnnx(coef, 0.25));
    const deployment = unique("why");
    await kiln.deployments.create(deployment, { model: uploaded });
    const rows = [{ id: 7, a: 1, b: 2, c: -1 }, { id: 8, a: 0, b: 0, c: 0 }];
    const answer = await kiln.deployments.explain(deployment, rows, { keep: ["id"], background: "explain-rows", backgroundRows: 1000 });
    expect(answer.schema.fields.map((f) => f.name)).toEqual(["id", "prediction", "base_value", "shap_a", "shap_b", "shap_c"]);
    const mean = (values: Float64Array) => values.reduce((s, v) => s + v, 0) / values.length;
    const means = [mean(features.a), mean(features.b), mean(features.c)];
    rows.forEach((row, i) => {
      ["a", "b", "c"].forEach((name, j) => expect(column(answer, `shap_${name}`)[i]).toBeCloseTo(coef[j]! * (row[name as "a"] - means[j]!), 4));
      expect(column(answer, "prediction")[i]).toBeCloseTo(coef[0]! * row.a + coef[1]! * row.b + coef[2]! * row.c + 0.25, 5);
    });
    // The same job, the same background: the same values.
    const asJob = await (await kiln.runtime.model(uploaded).explain(rows.map(({ a, b, c }) => ({ a, b, c })), { background: "explain-rows", backgroundRows: 1000 })).get();
    expect(column(asJob.rows, "shap_c")).toEqual(column(answer, "shap_c"));

    // The Open Inference Protocol's REST form: kind "explain" and the same params as parameters. Its tensor's
    // columns are positional and the model learned no names, so the background's columns are taken in order.
    await kiln.datasets.put("explain-abc", tableFromArrays({ a: features.a, b: features.b, c: features.c }));
    const res = await fetch(`${running.server.url}/v2/models/${deployment}/infer`, {
      method: "POST",
      body: JSON.stringify({ parameters: { kind: "explain", background: "explain-abc", background_rows: 1000 }, inputs: [{ name: "X", shape: [1, 3], datatype: "FP64", data: [1, 2, -1] }] }),
    });
    const body = (await res.json()) as { outputs: { name: string; data: number[] }[] };
    expect({ status: res.status, body }).toMatchObject({ status: 200 });
    expect(body.outputs.map((o) => o.name)).toEqual(["prediction", "base_value", "shap_x0", "shap_x1", "shap_x2"]);
    expect(body.outputs[2]!.data[0]).toBeCloseTo(column(answer, "shap_a")[0]!, 9);

    await expect(kiln.deployments.explain(deployment, rows, { keep: ["id"] })).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "NO_TRAINING_DATA" });
    await expect(kiln.deployments.explain(deployment, rows, { background: "explain-rows", method: "kernel" as "exact" })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_PARAMS" });
    await expect(kiln.deployments.explain(deployment, rows, { keep: ["id"], background: "nope" })).rejects.toBeInstanceOf(NotFoundError);
    await expect(kiln.deployments.explain(deployment, [[1, 2, 3]], { background: "explain-rows" })).rejects.toMatchObject({ reason: "FEATURE_COUNT", message: expect.stringContaining("has 4 numeric columns (id, a, b, c)") });
    const client = createClient(DeploymentService, createGrpcTransport({ baseUrl: running.server.url }));
    await expect(client.predict({ deployment: `projects/default/deployments/${deployment}`, input: { case: "arrowIpc", value: tableToIPC(tableFromArrays({ a: [1], b: [2], c: [3] }), "stream") }, params: { background_rows: 5 } })).rejects.toMatchObject({
      message: expect.stringContaining("params are an EXPLAIN's; a PREDICT request takes none"),
    });
    await kiln.deployments.delete(deployment);
  });

  it("takes a deployment's explainer as its explanations' defaults, its background sampled before the first request", async () => {
    const uploaded = unique("explained-configured");
    await kiln.models.put(uploaded, linearRegressorOnnx(coef, 0.25));
    const usual = unique("explain-usual");
    await kiln.datasets.put(usual, [{ a: 0, b: 0, c: 0 }, { a: 2, b: 4, c: -2 }]);
    const deployment = unique("why-configured");
    const info = await kiln.deployments.create(deployment, { model: uploaded, explainer: { background: usual, backgroundRows: 50 } });
    expect(info.explainer).toEqual({ background: usual, backgroundRows: 50 });
    // Sampled when the version was loaded: the dataset can go.
    await kiln.datasets.drop(usual);
    const answer = await kiln.deployments.explain(deployment, [{ a: 1, b: 2, c: -1 }]);
    expect(["a", "b", "c"].map((name) => column(answer, `shap_${name}`)[0])).toEqual([0, 0, 0]); // the row is the background's mean
    expect(column(answer, "base_value")[0]).toBeCloseTo(coef[0]! - 0.25 * 2 - coef[2]! + 0.25, 5);
    // A request's own params win.
    const own = await kiln.deployments.explain(deployment, [{ a: 1, b: 2, c: -1 }], { background: "explain-abc", backgroundRows: 1000 });
    expect(column(own, "shap_a")[0]).not.toBe(0);

    await expect(kiln.deployments.update(deployment, { explainer: { background: "bad/name" } })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_EXPLAINER" });
    await expect(kiln.deployments.update(deployment, { explainer: { backgroundRows: 5000 } })).rejects.toMatchObject({ reason: "INVALID_EXPLAINER", message: expect.stringContaining("explainer.background_rows is a whole number from 1 to 1000") });
    const dropped = await kiln.deployments.update(deployment, { explainer: null });
    expect(dropped.explainer).toBeUndefined();
    // Without it, an uploaded model has no training data to sample (once the executors heard of the change).
    await expect.poll(() => kiln.deployments.explain(deployment, [{ a: 1, b: 2, c: -1 }]).then(() => "answered", (e: { reason?: string }) => e.reason), { timeout: 10_000 }).toBe("NO_TRAINING_DATA");
    await kiln.deployments.delete(deployment);
  });

  it("stops a long explanation within a second of its cancel, between model calls", async () => {
    // Sixteen features, 1,000 orderings a row and 1,000 background rows: 30 million model rows a row, each row seconds long.
    const width = 16;
    const model = unique("explained-long");
    await kiln.models.put(model, linearRegressorOnnx(Array.from({ length: width }, (_, j) => j + 1), 0.25));
    const n = 1000;
    const columns = Object.fromEntries(Array.from({ length: width }, (_, j) => [`f${j}`, Float64Array.from({ length: n }, (_, i) => Math.sin(i * (j + 1)))]));
    await kiln.datasets.put("explain-long", tableFromArrays(columns));
    const job = await kiln.runtime.model(model).explain("explain-long", { background: "explain-long", backgroundRows: 1000, method: "permutation", permutations: 1000 });
    await expect.poll(async () => (await job.info()).progress.message, { interval: 50, timeout: 20_000 }).toBe("explaining");
    await new Promise((r) => setTimeout(r, 300)); // well into the first row
    const asked = Date.now();
    expect((await job.cancel()).state).toBe("cancelled");
    // The executor says in its heartbeats (every 500 ms) what it runs: the job is gone from them.
    await expect.poll(async () => (await kiln.runtime.executors()).some((e) => e.runningJobs.includes(job.name)), { interval: 50, timeout: 10_000 }).toBe(false);
    expect(Date.now() - asked).toBeLessThan(1500); // a heartbeat after the stop (without stopping between calls: the row's end, 2 s and more)
  });

  it("refuses at submit what it cannot explain, changing nothing", async () => {
    const uploaded = unique("explained-uploaded");
    await kiln.models.put(uploaded, linearRegressorOnnx(coef, 0.25));
    const X = { dataset: "explain-rows", columns: ["a", "b", "c"] };
    const before = (await kiln.runtime.jobs()).length;
    await expect(kiln.runtime.model(uploaded).explain(X)).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "NO_TRAINING_DATA", message: expect.stringContaining("an EXPLAIN job needs background rows: name them as job.y") });
    await expect(kiln.runtime.model(uploaded).explain(X, { background: "explain-rows", backgroundRows: 0 })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_PARAMS", message: "params.background_rows is a whole number from 1 to 1000, not 0" });
    await expect(kiln.runtime.model(uploaded).explain(X, { background: "explain-rows", method: "kernel" as "exact" })).rejects.toMatchObject({ reason: "INVALID_PARAMS", message: 'params.method is "auto", "exact", "permutation", "tree", not "kernel"' });
    await expect(kiln.runtime.model(uploaded).explain(X, { background: "nope" })).rejects.toBeInstanceOf(NotFoundError);
    expect(await kiln.runtime.jobs()).toHaveLength(before);
  });

  it("fails a job whose model predicts nothing to explain, or whose background lacks a feature", async () => {
    const clusters = unique("explained-kmeans");
    await kiln.models.put(clusters, new KMeans({ nClusters: 2, randomState: 0 }).fit(blobs(50).X.map((r) => [r.x0, r.x1])));
    await expect((await kiln.runtime.model(clusters).explain(blobs(5).X, { background: blobs(20).X })).get()).rejects.toMatchObject({ reason: "NOT_EXPLAINABLE", message: expect.stringContaining("EXPLAIN takes regressors and classifiers") });
    const linear = unique("explained-lacking");
    await kiln.models.put(linear, linearRegressorOnnx(coef, 0.25));
    const X = { dataset: "explain-rows", columns: ["a", "b", "c"] };
    await expect((await kiln.runtime.model(linear).explain(X, { background: { dataset: "explain-rows", columns: ["a", "b"] } })).get()).rejects.toMatchObject({
      reason: "COLUMN_MISSING",
      message: expect.stringContaining('the background projects/default/datasets/explain-rows has no column "c", a feature of'),
    });
  });
});
