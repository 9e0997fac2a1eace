import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeVector, Table, tableFromArrays, tableFromIPC, tableFromJSON, Utf8, vectorFromArray } from "apache-arrow";
import { create, fromJson, toBinary } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobKind, RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { linearRegressorOnnx, OnnxGraphBuilder, zipMapClassifierOnnx } from "@kiln/onnx";
import { ModelProtoSchema, TensorProto_DataType, ValueInfoProtoSchema } from "onnx-buf";
import { FailedPreconditionError, InvalidArgumentError, Kiln, NotFoundError, type JobHandle } from "@kiln/sdk";
import { Graph, KMeans, LogisticRegression, PCA, Pipeline, RandomForestClassifier, Ridge, SGDClassifier, SimpleImputer, StandardScaler, concat, input, loadModel } from "@kiln/sdk/ml";
import { sqlBatches } from "@kiln/sdk/sql";
import Database from "better-sqlite3";
import { runEmbedded } from "../src/index.js";
import { unique } from "./helpers.js";


/** Two separable blobs: class 1 when x0 + x1 > 0. */
function blobs(n: number) {
  const rows = Array.from({ length: n }, (_, i) => {
    const x0 = Math.sin(i * 12.9898) * 2;
    const x1 = Math.cos(i * 78.233) * 2;
    return { x0, x1, label: x0 + x1 > 0 ? 1 : 0 };
  });
  return { X: rows.map(({ x0, x1 }) => ({ x0, x1 })), y: rows.map(({ label }) => ({ label })), labels: rows.map((r) => r.label) };
}

describe("the runtime in embedded mode (scheduler and one executor in the server process)", () => {
  let dir: string;
  let running: RunningProcess;
  let kiln: Kiln;
  const data = blobs(400);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-runtime-embedded-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    kiln = await Kiln.connect(running.server.url);
    await kiln.datasets.put("blobs-x", data.X);
    await kiln.datasets.put("blobs-y", data.y);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("purges many jobs 10,000 a call when asked for progress, the oldest first", async () => {
    const own = await Kiln.connect({ url: running.server.url, project: unique("purging") });
    try {
      const handles = await own.runtime.submitMany(Array.from({ length: 10_050 }, () => ({ kind: "noop" as const })));
      await handles.at(-1)!.wait();
      for (const h of handles.slice(-20)) await h.wait();
      const endedBefore = new Date(Date.now() + 1000);
      expect((await own.runtime.purgeJobs({ endedBefore, dryRun: true })).count).toBe(10_050);
      const progress: number[] = [];
      const purged = await own.runtime.purgeJobs({ endedBefore, onProgress: (n) => progress.push(n) });
      expect(progress).toEqual([10_000, 10_050]);
      expect(purged.count).toBe(10_050);
      expect(purged.sample).toEqual(handles.slice(0, 100).map((h) => h.id));
      expect(await own.runtime.jobs()).toEqual([]);
    } finally {
      own.close();
    }
  });

  it("creates an untrained model, fits it remotely, predicts, predicts probabilities and scores", async () => {
    const model = unique("clf");
    await kiln.models.create(model, { estimator: "logistic_regression", params: { C: 1 } });
    const fit = await kiln.runtime.model(model).fit("blobs-x", "blobs-y");
    const fitted = await fit.get();
    expect(fitted.modelVersion).toBe(`projects/default/models/${model}/versions/2`);
    expect(fitted.metrics.training_score).toBeGreaterThan(0.9);

    const version = await kiln.models.get(`${model}:2`);
    expect(version.runnable).toBe(true);
    expect(version.metadata).toMatchObject({ estimator: "LogisticRegression", features: ["x0", "x1"], target: "label" });
    expect(version.lineage).toMatchObject({ trainingJob: fit.name, parentVersion: `projects/default/models/${model}/versions/1` });
    expect(version.lineage!.sourceDatasets.map((d) => d.name)).toEqual(["projects/default/datasets/blobs-x", "projects/default/datasets/blobs-y"]);

    const predictions = await (await kiln.runtime.model(model).predict("blobs-x")).get();
    expect(predictions.numRows).toBe(400);
    const predicted = predictions.getChild("prediction")!.toArray() as BigInt64Array;
    const agree = data.labels.filter((label, i) => Number(predicted[i]) === label).length;
    expect(agree / 400).toBeGreaterThan(0.9);

    const proba = await (await kiln.runtime.model(model).predictProba("blobs-x")).get();
    expect(proba.schema.fields.map((f) => f.name)).toEqual(["probability_0", "probability_1"]);
    const p0 = proba.getChild("probability_0")!.get(0) as number;
    const p1 = proba.getChild("probability_1")!.get(0) as number;
    expect(p0 + p1).toBeCloseTo(1, 5);

    const score = await (await kiln.runtime.model(model).score("blobs-x", "blobs-y")).get();
    expect(score.accuracy).toBeCloseTo(agree / 400, 10);

    // A model put from a local classifier records its classes as a remote fit does: probability columns by class.
    const named = unique("named");
    await kiln.models.put(named, new LogisticRegression().fit(data.X.map((r) => [r.x0, r.x1]), data.labels.map((l) => (l ? "yes" : "no"))));
    expect((await kiln.models.get(named)).metadata.classes).toEqual(["no", "yes"]);
    expect((await (await kiln.runtime.model(named).predictProba("blobs-x")).get()).schema.fields.map((f) => f.name)).toEqual(["probability_no", "probability_yes"]);
    // Labels of another type than the model's classes would score a silent 0: the job says so instead.
    await expect((await kiln.runtime.model(named).score("blobs-x", "blobs-y")).get()).rejects.toMatchObject({
      reason: "LABEL_TYPE_MISMATCH",
      message: expect.stringContaining(`column "label" of projects/default/datasets/blobs-y holds numbers and the model predicts strings (its classes: "no", "yes")`),
    });
    // Local data is named as such, not by the temporary dataset it travelled as.
    await expect((await kiln.runtime.model(named).score(data.X, data.labels)).get()).rejects.toMatchObject({ message: expect.stringContaining(`column "y" of the local y holds numbers`) });
  });

  it("predicts every row of a many-chunk table as the model does locally (chunks in shared memory, each split across model runs)", async () => {
    // ~210,000 rows (20 bytes each) a 4 MiB chunk: each is split in two model runs, whose columns the ONNX workers read from the chunk's memory.
    const n = 400_000;
    const columns = {
      a: Float64Array.from({ length: n }, (_, i) => Math.sin(i) * 3),
      b: Int32Array.from({ length: n }, (_, i) => (i % 1000) - 500),
      c: Float64Array.from({ length: n }, (_, i) => i / n),
    };
    await kiln.datasets.put("wide-rows", tableFromArrays(columns));
    const coef = [1.5, 0.01, -2];
    const model = unique("linear");
    await kiln.models.put(model, linearRegressorOnnx(coef, 0.25));
    const job = await kiln.runtime.model(model).predict("wide-rows");
    let row = 0;
    for await (const chunk of job.results()) {
      const values = chunk.getChild("prediction")!.toArray() as Float32Array;
      for (let i = 0; i < values.length; i++, row++) {
        const expected = Math.fround(columns.a[row]!) * coef[0]! + columns.b[row]! * coef[1]! + Math.fround(columns.c[row]!) * coef[2]! + 0.25;
        if (Math.abs(values[i]! - expected) > 1e-5 * (1 + Math.abs(expected))) throw new Error(`row ${row}: predicted ${values[i]}, expected ${expected}`);
      }
    }
    expect(row).toBe(n);
  });

  it("takes local data (sent as a temporary dataset, dropped after the job) and writes results to an output dataset", async () => {
    const model = unique("clf");
    const clf = new LogisticRegression().fit(
      data.X.map((r) => [r.x0, r.x1]),
      data.labels,
    );
    await kiln.models.put(model, clf);
    const job = await kiln.runtime.model(model).predict(data.X.slice(0, 10), { output: "blobs-predictions" });
    const table = await job.get();
    expect(table.numRows).toBe(10);
    const info = await job.info();
    expect(info.state).toBe("succeeded");
    expect(info.result?.output).toEqual({ name: "projects/default/datasets/blobs-predictions", version: expect.any(Number) });
    const written = (await kiln.datasets.get("blobs-predictions")) as Table;
    expect(written.numRows).toBe(10);
    expect(info.x?.temporary).toBe(true);
    await expect.poll(async () => (await kiln.datasets.list()).some((d) => d.name === info.x!.dataset), { timeout: 5000 }).toBe(false);

    // Record batches streamed, with the columns to use: here the features in the order of the local rows' names.
    const rows = data.X.slice(0, 10).map((r) => ({ extra: 99, x1: r.x1, x0: r.x0 }));
    async function* batches() {
      yield* tableFromJSON(rows.slice(0, 4)).batches;
      yield* tableFromJSON(rows.slice(4)).batches;
    }
    const sent: number[] = [];
    const streamed = await kiln.runtime.model(model).predict({ local: batches(), columns: ["x0", "x1"] }, { onUploadProgress: (p) => sent.push(p.bytes) });
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.at(-1)).toBeGreaterThan(0);
    // X's and Y's uploads report as one count of bytes.
    const both: number[] = [];
    await (await kiln.runtime.model(model).score(data.X.slice(0, 50), data.y.slice(0, 50), { onUploadProgress: (p) => both.push(p.bytes) })).get();
    expect(both.length).toBeGreaterThan(1);
    expect(both.every((b, i) => i === 0 || b >= both[i - 1]!)).toBe(true);
    expect([...(await streamed.get()).getChildAt(0)!]).toEqual([...table.getChildAt(0)!]);
    expect((await streamed.info()).x).toMatchObject({ temporary: true, columns: ["x0", "x1"] });

    // A SQL query's rows, streamed up as they are read.
    const db = new Database(join(dir, "blobs.db"));
    db.exec("CREATE TABLE blobs (x0 REAL, x1 REAL)");
    const insert = db.prepare("INSERT INTO blobs VALUES (?, ?)");
    for (const r of data.X.slice(0, 10)) insert.run(r.x0, r.x1);
    db.close();
    const fromSql = await kiln.runtime.model(model).predict({ local: sqlBatches(`sqlite:${join(dir, "blobs.db")}`, "SELECT x0, x1 FROM blobs ORDER BY rowid", { batchRows: 4 }) });
    expect([...(await fromSql.get()).getChildAt(0)!]).toEqual([...table.getChildAt(0)!]);
  });


  it("a job on no rows (a filter that matches none) returns the model's columns, and its output dataset gets an empty version with them", async () => {
    const none = { dataset: "blobs-x", filter: "x0 > 100" };
    const X = data.X.map((r) => [r.x0, r.x1]);
    const clf = unique("clf");
    await kiln.models.put(clf, new LogisticRegression().fit(X, data.labels));
    const predicted = await (await kiln.runtime.model(clf).predict(none)).get();
    expect([predicted.numRows, predicted.schema.fields.map((f) => f.name)]).toEqual([0, ["prediction"]]);
    const job = await kiln.runtime.model(clf).predictProba(none, { output: unique("no-rows") });
    const proba = await job.get();
    expect([proba.numRows, proba.schema.fields.map((f) => f.name)]).toEqual([0, ["probability_0", "probability_1"]]);
    const written = (await kiln.datasets.get((await job.info()).result!.output!.name)) as Table;
    expect([written.numRows, written.schema.fields.map((f) => f.name)]).toEqual([0, ["probability_0", "probability_1"]]);
    // Tree ensembles, transformers and uploaded ONNX models run on no rows too.
    const forest = unique("forest");
    await kiln.models.put(forest, new RandomForestClassifier({ nEstimators: 3, randomState: 0 }).fit(X, data.labels));
    expect((await (await kiln.runtime.model(forest).predictProba(none)).get()).numCols).toBe(2);
    const pca = unique("pca");
    await kiln.models.put(pca, new PCA({ nComponents: 2 }).fit(X));
    expect((await (await kiln.runtime.model(pca).transform(none)).get()).schema.fields.map((f) => f.name)).toEqual(["component_0", "component_1"]);
    const onnx = unique("onnx");
    await kiln.models.put(onnx, linearRegressorOnnx([1, 2], 0));
    expect((await (await kiln.runtime.model(onnx).predict(none)).get()).schema.fields.map((f) => f.name)).toEqual(["prediction"]);
    // A graph that fails on an empty batch (it subtracts the first row) gets its columns from its signature.
    const firstRow = unique("first-row");
    const graph = new OnnxGraphBuilder({ opset: 17, producer: "test", graphName: "first_row" })
      .input("X", "float32", ["N", 2])
      .initializer("zero", BigInt64Array.of(0n), [1])
      .node("Gather", ["X", "zero"], ["first"])
      .node("Sub", ["X", "first"], ["variable"])
      .output("variable", "float32", ["N", 2])
      .toBytes();
    await kiln.models.put(firstRow, graph);
    expect((await (await kiln.runtime.model(firstRow).transform({ dataset: "blobs-x", filter: "x0 < 0" })).get()).numRows).toBeGreaterThan(0);
    const shaped = await (await kiln.runtime.model(firstRow).transform(none)).get();
    expect([shaped.numRows, shaped.schema.fields.map((f) => [f.name, String(f.type)])]).toEqual([0, [["component_0", "Float32"], ["component_1", "Float32"]]]);
    // Local data of no rows says nothing of its columns: an empty Arrow table goes, an empty array is refused in words.
    const arrow = tableFromArrays({ x0: new Float64Array(0), x1: new Float64Array(0) });
    expect((await (await kiln.runtime.model(clf).predict(arrow)).get()).schema.fields.map((f) => f.name)).toEqual(["prediction"]);
    await expect(kiln.runtime.model(clf).predict([])).rejects.toThrow(/; got an empty array$/);
    await expect(kiln.runtime.model(clf).predict({ x0: [], x1: [] })).rejects.toThrow(/; got columns with no rows$/);
    // Scoring needs rows: it says which input has none.
    await expect((await kiln.runtime.model(clf).score(none, "blobs-y")).get()).rejects.toMatchObject({ reason: "NO_ROWS", message: expect.stringContaining("blobs-x where x0 > 100 has no rows to score") });
  });

  it("keeps X's columns (ids) beside the outputs in every result row, after a filter and across chunks, and in the output dataset", async () => {
    // ~150,000 rows a 4 MiB chunk: four chunks, their results in several messages each.
    const n = 500_000;
    const a = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const b = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 3.1) * 3);
    const id = BigInt64Array.from({ length: n }, (_, i) => BigInt(i) * 7n + 1n);
    const tag = vectorFromArray(Array.from({ length: n }, (_, i) => `r${i}`), new Utf8());
    const name = unique("keyed");
    await kiln.datasets.put(name, new Table({ a: makeVector(a), b: makeVector(b), id: makeVector(id), tag }));
    const model = unique("linear");
    await kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const keep = ["tag", "id"];
    /** Each result row's kept columns name the input row whose prediction it carries; returns the rows read. */
    const checkRows = async (job: JobHandle<Table>, where: (i: number) => boolean) => {
      let rows = 0;
      for await (const chunk of job.results()) {
        expect(chunk.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(["tag: Utf8", "id: Int64", "prediction: Float32"]);
        const [tags, ids, predictions] = ["tag", "id", "prediction"].map((c) => chunk.getChild(c)!);
        for (let r = 0; r < chunk.numRows; r++, rows++) {
          const i = Number((ids!.get(r) as bigint) - 1n) / 7;
          const expected = 2 * a[i]! - b[i]! + 0.5;
          if (!where(i) || tags!.get(r) !== `r${i}` || Math.abs(predictions!.get(r) - expected) > 1e-5 * (1 + Math.abs(expected))) {
            throw new Error(`result row ${rows}: id ${ids!.get(r)}, tag ${tags!.get(r)}, prediction ${predictions!.get(r)}; expected row ${i} to predict ${expected}`);
          }
        }
      }
      return rows;
    };
    // Every row: the stored chunks come whole (the features and the kept columns are all the columns).
    expect(await checkRows(await kiln.runtime.model(model).predict({ dataset: name, columns: ["a", "b"] }, { keep }), () => true)).toBe(n);
    // Features in another order than stored, and columns the job does not use, read whole all the same: each by its name.
    let row = 0;
    for await (const chunk of (await kiln.runtime.model(model).predict({ dataset: name, columns: ["b", "a"] })).results()) {
      const predictions = chunk.getChild("prediction")!.toArray() as Float32Array;
      for (let r = 0; r < chunk.numRows; r++, row++) {
        const expected = 2 * b[row]! - a[row]! + 0.5;
        if (Math.abs(predictions[r]! - expected) > 1e-5 * (1 + Math.abs(expected))) throw new Error(`row ${row}: predicted ${predictions[r]}, expected ${expected}`);
      }
    }
    expect(row).toBe(n);
    // The embedded executor filters whole chunks itself: one that keeps every row is the chunk's own memory, on loan until its rows are out.
    expect(await checkRows(await kiln.runtime.model(model).predict({ dataset: name, columns: ["a", "b"], filter: "a > -100" }, { keep }), () => true)).toBe(n);
    const X = { dataset: name, columns: ["a", "b"], filter: "a > 1" };
    const output = unique("keyed-predictions");
    const job = await kiln.runtime.model(model).predict(X, { keep, output });
    const rows = await checkRows(job, (i) => a[i]! > 1);
    expect(rows).toBe(a.filter((v) => v > 1).length);
    expect(await job.wait()).toMatchObject({ keepColumns: keep, result: { rows } });
    const written = await kiln.datasets.info(output);
    expect([written.latest?.rowCount, written.latest?.fields.map((f) => f.name)]).toEqual([rows, ["tag", "id", "prediction"]]);
    // No rows: the kept columns are still there, typed as in X.
    const none = await (await kiln.runtime.model(model).predict({ ...X, filter: "a > 100" }, { keep })).get();
    expect([none.numRows, none.schema.fields.map((f) => `${f.name}: ${f.type}`)]).toEqual([0, ["tag: Utf8", "id: Int64", "prediction: Float32"]]);

    // Bad requests change nothing: checked at submit against X's columns and the job's kind.
    await expect(kiln.runtime.model(model).predict(X, { keep: ["nope"] })).rejects.toMatchObject({ reason: "UNKNOWN_COLUMN", message: expect.stringContaining('job.keep_columns: projects/default/datasets/keyed') });
    await expect(kiln.runtime.model(model).predict(X, { keep: ["id", "id"] })).rejects.toMatchObject({ reason: "INVALID_KEEP_COLUMNS", message: 'job.keep_columns: "id" is named twice' });
    await expect(kiln.runtime.model(model).score(X, "blobs-y", { keep: ["id"] })).rejects.toBeInstanceOf(InvalidArgumentError);
    // A kept column named like an output fails the job before any result is published.
    const clash = await kiln.runtime.model(model).predict({ local: [{ a: 1, b: 2, prediction: 3 }], columns: ["a", "b"] }, { keep: ["prediction"] });
    await expect(clash.get()).rejects.toMatchObject({ reason: "KEEP_COLUMN_CONFLICT", message: expect.stringContaining('the kept column "prediction" has the name of an output column') });
  });

  it("runs a classifier exported with sklearn-onnx's default ZipMap: probabilities from the ZipMap's input, its columns named by ZipMap's labels", async () => {
    const coef = [0.75, 1.25];
    const zipped = unique("zipmap");
    await kiln.models.put(zipped, zipMapClassifierOnnx(coef, -0.5, ["no", "yes"]));
    const proba = await (await kiln.runtime.model(zipped).predictProba("blobs-x")).get();
    expect(proba.schema.fields.map((f) => f.name)).toEqual(["probability_no", "probability_yes"]);
    const yes = proba.getChild("probability_yes")!.toArray() as Float32Array;
    data.X.forEach(({ x0, x1 }, i) => expect(yes[i]).toBeCloseTo(1 / (1 + Math.exp(-(Math.fround(x0) * 0.75 + Math.fround(x1) * 1.25 - 0.5))), 5));
    const labels = await (await kiln.runtime.model(zipped).predict("blobs-x")).get();
    expect(labels.getChild("prediction")!.toArray().slice(0, 3)).toEqual([...yes.slice(0, 3)].map((p) => (p > 0.5 ? "yes" : "no")));
    // No rows: the columns still come from the ZipMap's labels.
    const none = await (await kiln.runtime.model(zipped).predictProba({ dataset: "blobs-x", filter: "x0 > 100" })).get();
    expect([none.numRows, none.schema.fields.map((f) => f.name)]).toEqual([0, ["probability_no", "probability_yes"]]);

    // Any other output onnxruntime cannot return is refused in words, not with onnxruntime's.
    const sequence = unique("sequence");
    const graph = new OnnxGraphBuilder({ opset: 17, producer: "test", graphName: "sequence" }).input("X", "float32", ["N", 2]).node("SequenceConstruct", ["X"], ["probabilities"]).toModel();
    graph.graph!.output.push(create(ValueInfoProtoSchema, { name: "probabilities", type: { value: { case: "sequenceType", value: { elemType: { value: { case: "tensorType", value: { elemType: TensorProto_DataType.FLOAT } } } } } } }));
    await kiln.models.put(sequence, toBinary(ModelProtoSchema, graph));
    await expect((await kiln.runtime.model(sequence).predictProba("blobs-x")).get()).rejects.toMatchObject({
      reason: "NOT_A_TENSOR_OUTPUT",
      message: expect.stringContaining('the model\'s output "probabilities" is seq(tensor(float32)), which onnxruntime cannot return'),
    });
  });

  it("appends results to an existing output dataset, and refuses one they do not fit before publishing any", async () => {
    const model = unique("clf");
    await kiln.models.put(model, new LogisticRegression().fit(data.X.map((r) => [r.x0, r.x1]), data.labels));
    const output = unique("scores");
    const first = await (await kiln.runtime.model(model).predict("blobs-x", { output })).get();
    await (await kiln.runtime.model(model).predict("blobs-x", { output })).get();
    const info = await kiln.datasets.info(output);
    expect(info.latestVersion).toBe(2);
    expect(info.latest?.rowCount).toBe(2 * first.numRows);

    // Probabilities do not fit a dataset of labels: the job fails on its first batch, and nothing reaches the reader.
    const proba = await kiln.runtime.model(model).predictProba("blobs-x", { output });
    const chunks: number[] = [];
    const reading = (async () => {
      for await (const t of proba.results()) chunks.push(t.numRows);
    })();
    await expect(reading).rejects.toMatchObject({
      reason: "SCHEMA_MISMATCH",
      message: expect.stringMatching(/the results \(probability_0: Float32, probability_1: Float32\) cannot be appended to the output dataset projects\/default\/datasets\/scores-\S+, which has \(prediction: Int64\): name another output dataset/),
    });
    expect(chunks).toEqual([]);
    expect((await kiln.datasets.info(output)).latestVersion).toBe(2);
    expect((await proba.info()).attempts).toHaveLength(1); // a precondition: not retried

    const tensor = unique("tensor");
    await kiln.datasets.put(tensor, { data: new Float32Array(4), shape: [2, 2] });
    await expect((await kiln.runtime.model(model).predict("blobs-x", { output: tensor })).get()).rejects.toMatchObject({ reason: "NOT_A_TABLE", message: expect.stringContaining("is a tensor dataset") });
  });
  it("a model dropped while its fit trains stays dropped: the fit fails MODEL_DELETED instead of storing it under that name again", async () => {
    const model = unique("dropped");
    await kiln.models.create(model, { estimator: "mlp_classifier", params: { hidden_layer_sizes: [32], max_iter: 300, n_iter_no_change: 300, random_state: 0 } });
    const X = Array.from({ length: 3000 }, (_, i) => [Math.sin(i), Math.cos(i * 1.7)]);
    const job = await kiln.runtime.model(model).fit(X, X.map(([a, b]) => (a! * b! > 0 ? 1 : 0)));
    for await (const info of job.watch()) if (info.progress.message.startsWith("training")) break;
    await kiln.models.drop(model);
    await expect(job.get()).rejects.toMatchObject({ reason: "MODEL_DELETED", message: expect.stringContaining(`projects/default/models/${model} was deleted while the job trained`) });
    await expect(kiln.models.info(model)).rejects.toBeInstanceOf(NotFoundError);
    // The SDK's put refuses the same way when asked not to create the model.
    await expect(kiln.models.put(model, new LogisticRegression().fit([[0], [1]], [0, 1]), { createModel: false })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("takes positional data as sklearn does: rows of numbers and tensors are X column by column, named data by name", async () => {
    const model = unique("positional");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const matrix = data.X.map((r) => [r.x0, r.x1]);
    // Fit on rows of numbers: the version learns x0, x1 (the names a tensor's columns get).
    await (await kiln.runtime.model(model).fit(matrix, data.labels)).get();
    expect((await kiln.models.get(`${model}:2`)).metadata).toMatchObject({ features: ["x0", "x1"] });
    const predictedBy = async (X: unknown) => [...(await (await kiln.runtime.model(`${model}:2`).predict(X as never)).get()).getChildAt(0)!].map(Number);
    const expected = await predictedBy(matrix.slice(0, 20));
    expect(expected.filter((p, i) => p === data.labels[i]).length).toBeGreaterThan(17);
    // A tensor, and named columns a model of positional features takes in order.
    expect(await predictedBy({ data: Float64Array.from(matrix.slice(0, 20).flat()), shape: [20, 2] })).toEqual(expected);
    expect(await predictedBy(matrix.slice(0, 20).map(([p, q]) => ({ p, q })))).toEqual(expected);
    // FIT starts over on X as given (not on the parent version's features), as sklearn's fit does.
    await (await kiln.runtime.model(model).fit("blobs-x", "blobs-y")).get();
    expect((await kiln.models.get(`${model}:3`)).metadata).toMatchObject({ features: ["x0", "x1"] });
    await (await kiln.runtime.model(model).fit(data.X.map(({ x0, x1 }) => ({ first: x0, second: x1 })), data.labels)).get();
    expect((await kiln.models.get(`${model}:4`)).metadata).toMatchObject({ features: ["first", "second"] });
    // Named data without a named model's features still fails, naming the column.
    const missing = await (await kiln.runtime.model(`${model}:4`).predict([{ x0: 1, x1: 2 }])).get().catch((e: unknown) => e);
    expect(missing).toMatchObject({ reason: "COLUMN_MISSING", message: expect.stringMatching(/column "first" is not in the data/) });
  });

  it("finds a NaN deep in a large X where the ONNX worker lays the batch out, naming its column and row", async () => {
    const model = unique("clf");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(model).fit("blobs-x", "blobs-y")).get();
    const n = 100_000;
    const x1 = Float64Array.from({ length: n }, (_, i) => Math.cos(i));
    x1[70_000] = NaN;
    await kiln.datasets.put(`${model}-large`, tableFromArrays({ x0: Float64Array.from({ length: n }, (_, i) => Math.sin(i)), x1 }));
    const failed = await kiln.runtime.model(model).predict(`${model}-large`);
    await expect(failed.get()).rejects.toMatchObject({ reason: "NON_FINITE_INPUT", message: expect.stringContaining('X has NaN in column "x1" (row 70000); LogisticRegression takes no missing values') });
    expect((await failed.info()).attempts).toHaveLength(1);
    const fine = await (await kiln.runtime.model(model).predict({ dataset: `${model}-large`, filter: "x1 > 0.999" })).get();
    expect(fine.numRows).toBeGreaterThan(0);
  });

  it("refuses missing values, as the local predict does, unless the model starts with an imputer", async () => {
    const model = unique("clf");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(model).fit("blobs-x", "blobs-y")).get();
    expect((await kiln.models.get(`${model}:2`)).metadata).toMatchObject({ takes_missing_values: false });
    const gaps = [{ x0: 1, x1: 2 }, { x0: null, x1: 2 }, { x0: 1, x1: NaN }];
    // Its ONNX graph would give the null row NaN probabilities and the first class as its label, with no error.
    const failed = await kiln.runtime.model(model).predict(gaps);
    await expect(failed.get()).rejects.toMatchObject({ reason: "NON_FINITE_INPUT", message: expect.stringContaining('X has null in column "x0" (row 1); LogisticRegression takes no missing values') });
    expect((await failed.info()).attempts).toHaveLength(1); // bad data: not retried
    await expect((await kiln.runtime.model(model).score(gaps, [{ label: 1 }, { label: 1 }, { label: 1 }])).get()).rejects.toMatchObject({ reason: "NON_FINITE_INPUT" });

    // With an imputer first, the gaps are filled and every row predicted, as locally.
    const imputing = unique("imputing");
    const local = new Pipeline([new SimpleImputer(), new LogisticRegression()]).fit(data.X.map((r) => [r.x0, r.x1]), data.labels);
    await kiln.models.put(imputing, local);
    expect((await kiln.models.get(imputing)).metadata).toMatchObject({ takes_missing_values: true });
    const predicted = await (await kiln.runtime.model(imputing).predict(gaps.map((r) => [r.x0 ?? NaN, r.x1]))).get();
    expect([...predicted.getChildAt(0)!].map(Number)).toEqual(local.predict(gaps.map((r) => [r.x0 ?? NaN, r.x1])).map(Number));
  });

  it("fits and scores only the rows a filter picks (the embedded executor filters whole chunks itself)", async () => {
    // y = 2a exactly where a >= 0; noise elsewhere.
    const rows = Array.from({ length: 400 }, (_, i) => {
      const a = (i - 200) / 10;
      return { a, y: a >= 0 ? 2 * a : Math.sin(i * 7.7) * 50 };
    });
    const name = unique("half-linear");
    await kiln.datasets.put(name, rows);
    const model = unique("lin");
    await kiln.models.create(model, { estimator: "linear_regression" });
    const picked = { dataset: name, columns: ["a"], filter: "a >= 0" };
    const fit = await (await kiln.runtime.model(model).fit(picked, { ...picked, columns: ["y"] })).get();
    expect(fit.metrics.training_score).toBeCloseTo(1, 9);
    const all = await (await kiln.runtime.model(model).fit({ dataset: name, columns: ["a"] }, { dataset: name, columns: ["y"] })).get();
    expect(all.metrics.training_score).toBeLessThan(0.9);
    const score = await (await kiln.runtime.model(`${model}:2`).score(picked, { ...picked, columns: ["y"] })).get();
    expect(score.r2).toBeCloseTo(1, 9);
  });

  it("measures a model's drift: new data against the X its fit read (that version, that filter), on the features it learned", async () => {
    const model = unique("drifting");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const both = unique("blobs-both");
    await kiln.datasets.put(both, data.X.map((r, i) => ({ ...r, label: data.labels[i]! })));
    await (await kiln.runtime.model(model).fit({ dataset: both, columns: ["x0", "x1"], filter: "x0 > -1.5" }, { dataset: both, columns: ["label"], filter: "x0 > -1.5" })).get();
    const version = await kiln.models.get(model);
    expect(version.metadata.training_data).toEqual({ dataset: `projects/default/datasets/${both}`, version: 1, filter: "x0 > -1.5" });

    const kept = data.X.filter((r) => r.x0 > -1.5);
    const same = unique("blobs-same");
    await kiln.datasets.put(same, kept.map((r, i) => ({ id: i, ...r })));
    const calm = await kiln.models.drift(model, same);
    expect(calm).toMatchObject({ modelVersion: version.name, drifted: false, driftedCount: 0, missingColumns: [], newColumns: [] });
    expect(calm.columns.map((c) => [c.column, c.psi])).toEqual([["x0", 0], ["x1", 0]]);
    expect(calm.baseline.selection).toEqual({ dataset: both, version: 1, columns: ["x0", "x1"], filter: "x0 > -1.5" });

    const moved = unique("blobs-moved");
    await kiln.datasets.put(moved, kept.map((r) => ({ x0: r.x0 + 3, x1: r.x1 })));
    const drift = await kiln.models.drift(model, moved);
    expect(drift.columns.map((c) => [c.column, c.drifted])).toEqual([["x0", true], ["x1", false]]);
    expect(drift.columns[0]!.meanShift).toBeGreaterThan(2);
    expect(drift).toMatchObject({ drifted: true, driftedCount: 1 });

    const lacking = unique("blobs-x0");
    await kiln.datasets.put(lacking, kept.map((r) => ({ x0: r.x0 })));
    expect(await kiln.models.drift(model, lacking)).toMatchObject({ drifted: true, driftedCount: 0, missingColumns: ["x1"] });

    // A version from before training_data was recorded: its fit job's X, while the job is kept.
    const { model: file } = await kiln.models.download(`${model}:${version.version}`, join(dir, unique("dl")));
    const older = await kiln.models.put(model, file, { metadata: { features: ["x0", "x1"] }, lineage: { trainingJob: version.lineage!.trainingJob } });
    expect((await kiln.models.drift(`${model}:${older.version}`, moved)).baseline.selection).toMatchObject({ dataset: both, filter: "x0 > -1.5" });

    const local = unique("local-fit");
    await kiln.models.create(local, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(local).fit(data.X.slice(0, 50), data.y.slice(0, 50))).get();
    await expect(kiln.models.drift(local, same)).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "NO_TRAINING_DATA" });
    await expect(kiln.models.drift(`${local}:1`, same)).rejects.toMatchObject({ reason: "NO_TRAINING_DATA" });
  });

  it("runs a model's drift as a job: kept with its result, drift as a failure when asked, linked runs logging it", async () => {
    const model = unique("drift-job");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const both = unique("blobs-both");
    await kiln.datasets.put(both, data.X.map((r, i) => ({ ...r, label: data.labels[i]! })));
    await (await kiln.runtime.model(model).fit({ dataset: both, columns: ["x0", "x1"] }, { dataset: both, columns: ["label"] })).get();
    const version = await kiln.models.get(model);

    // X's other columns (an id, the label) are not the model's: only the features are profiled.
    const same = unique("blobs-same");
    await kiln.datasets.put(same, data.X.map((r, i) => ({ id: i, ...r })));
    const calmJob = await kiln.runtime.model(model).drift(same);
    const calm = await calmJob.get();
    expect(calm).toMatchObject({ drifted: false, driftedCount: 0, missingColumns: [], baselineRows: 400, targetRows: 400 });
    expect(calm.baseline).toEqual({ dataset: both, version: 1, columns: ["x0", "x1"], filter: "" });
    expect(calm.target).toEqual({ dataset: same, version: 1, columns: ["x0", "x1"], filter: "" });
    const info = await calmJob.info();
    expect(info).toMatchObject({ kind: "drift", state: "succeeded", schedule: "" });
    expect(info.result).toMatchObject({ ranModelVersion: version.name, metrics: { "drift.psi.x0": 0, "drift.psi.x1": 0, "drift.p_value.x0": 1, "drift.drifted_columns": 0, "drift.drifted": 0 } });

    const moved = data.X.map((r) => ({ x0: r.x0 + 3, x1: r.x1 }));
    // Local data goes up as a temporary dataset, as for any job.
    const drift = await (await kiln.runtime.model(model).drift(moved, { psiThreshold: 0.5 })).get();
    expect(drift.columns.map((c) => [c.column, c.drifted])).toEqual([["x0", true], ["x1", false]]);
    expect(drift).toMatchObject({ drifted: true, driftedCount: 1 });
    expect(drift.columns[0]!.meanShift).toBeGreaterThan(2);

    // fail_on_drift: a failed job naming what drifted, not tried again.
    const failing = await kiln.runtime.model(model).drift(moved, { failOnDrift: true, maxAttempts: 3 });
    await expect(failing.get()).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "DATA_DRIFT", message: expect.stringMatching(/drift in 1 of 2 features of .*: x0 \(PSI [\d.]+, ks p [\d.e-]+\)/) });
    expect((await failing.info()).attempts).toHaveLength(1);
    const lacking = await (await kiln.runtime.model(model).drift(moved.map(({ x0 }) => ({ x0 })), { failOnDrift: true })).wait().catch((e: Error) => e);
    expect(lacking).toMatchObject({ reason: "DATA_DRIFT", message: expect.stringMatching(/x1 \(missing\)/) });

    // A model linked to an experiment logs each check as a run: the runs are the drift's history.
    const watch = unique("drift-history");
    await kiln.models.setMetadata(model, { tracking: { default: watch } });
    await (await kiln.runtime.model(model).drift(moved)).get();
    const logged = await kiln.experiment(watch).data({ run: "all", filter: 'event = "metric"' });
    expect(logged.find((e) => e.key === "drift.drifted")?.value).toBe(1);

    const local = unique("local-fit");
    await kiln.models.create(local, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(local).fit(data.X.slice(0, 50), data.y.slice(0, 50))).get();
    await expect(kiln.runtime.model(local).drift(same)).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "NO_TRAINING_DATA" });
    await expect(kiln.runtime.model(model).drift(same, { pValueThreshold: 2 })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_PARAMS" });
    await expect(kiln.runtime.model(model).drift(same, { params: { fail_on_drift: "yes" } })).rejects.toMatchObject({ reason: "INVALID_PARAMS" });
    await expect(kiln.runtime.submitMany([{ kind: "drift", model, x: same, y: same }])).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "UNEXPECTED_INPUT" });
  });

  it("a fit's progress has a fraction: its epochs against those planned", async () => {
    const model = unique("mlp");
    await kiln.models.create(model, { estimator: "mlp_classifier", params: { hiddenLayerSizes: [32], maxIter: 1500, nIterNoChange: 1500, randomState: 0 } });
    const job = await kiln.runtime.model(model).fit("blobs-x", "blobs-y");
    const seen: { epoch: number; fraction: number }[] = [];
    for await (const info of job.watch()) if (info.state === "running" && info.progress.epoch > 0) seen.push({ epoch: info.progress.epoch, fraction: info.progress.fraction });
    expect(seen.length).toBeGreaterThan(0);
    for (const { epoch, fraction } of seen) expect(fraction).toBeCloseTo(epoch / 1500, 6);
    expect(seen.some(({ fraction }) => fraction > 0 && fraction < 1)).toBe(true);
  });

  it("partial fits batch after batch, each a new version on its parent; a classifier's first batch needs its classes", async () => {
    const model = unique("sgd");
    await kiln.models.create(model, { estimator: "sgd_classifier", params: { randomState: 0 } });
    const half = (rows: object[], part: number) => rows.slice(part * 200, part * 200 + 200);

    const noClasses = await kiln.runtime.model(model).partialFit(half(data.X, 0), half(data.y, 0));
    await expect(noClasses.get()).rejects.toMatchObject({ reason: "CLASSES_REQUIRED", message: expect.stringMatching(/params\.classes/) });
    expect((await noClasses.info()).attempts).toHaveLength(1);
    await expect((await kiln.runtime.model(model).fit("blobs-x", "blobs-y", { params: { classes: [0, 1] } })).get()).rejects.toMatchObject({ reason: "CLASSES_NOT_TAKEN" });

    const first = await (await kiln.runtime.model(model).partialFit(half(data.X, 0), half(data.y, 0), { params: { classes: [0, 1] } })).get();
    expect(first.modelVersion).toMatch(/versions\/2$/);
    const second = await (await kiln.runtime.model(model).partialFit(half(data.X, 1), half(data.y, 1))).get();
    expect(second.modelVersion).toMatch(/versions\/3$/);
    const v3 = await kiln.models.get(`${model}:3`);
    expect(v3.lineage?.parentVersion).toBe(`projects/default/models/${model}/versions/2`);
    expect(v3.metadata).toMatchObject({ estimator: "SGDClassifier", classes: [0, 1] });
    const scored = await (await kiln.runtime.model(`${model}:3`).score("blobs-x", "blobs-y")).get();
    expect(scored.accuracy).toBeGreaterThan(0.9);
  });

  it("partial fits a dataset batch after batch in one job (params.batch_rows, epochs), as the same batches fitted locally", async () => {
    const model = unique("batched");
    await kiln.models.create(model, { estimator: "sgd_classifier", params: { randomState: 3 } });
    const watched: { epoch: number; rowsDone: number; rowsTotal: number }[] = [];
    const job = await kiln.runtime.model(model).partialFit("blobs-x", "blobs-y", { params: { classes: [0, 1], batch_rows: 150, epochs: 2 } });
    for await (const info of job.watch()) watched.push({ epoch: info.progress.epoch, rowsDone: info.progress.rowsDone, rowsTotal: info.progress.rowsTotal });
    const fitted = await job.get();
    expect(fitted.metrics).toEqual({ rows_trained: 800 });
    expect(watched.at(-1)).toMatchObject({ epoch: 2, rowsDone: 800, rowsTotal: 800 });

    // Locally: the same estimator, partialFit on rows 0-149, 150-299, 300-399, twice over.
    const local = new SGDClassifier({ randomState: 3 });
    const X = data.X.map((r) => [r.x0, r.x1]);
    for (let epoch = 0; epoch < 2; epoch++) for (let at = 0; at < 400; at += 150) local.partialFit(X.slice(at, at + 150), data.labels.slice(at, at + 150), { classes: [0, 1] });
    const remote = loadModel(new TextDecoder().decode(await kiln.models.attachment(fitted.modelVersion, "kiln-ml.json"))) as SGDClassifier;
    expect(Array.from(remote.predict(X) as ArrayLike<number>)).toEqual(Array.from(local.predict(X) as ArrayLike<number>));
    expect(JSON.stringify(remote.toJSON().state)).toBe(JSON.stringify(local.toJSON().state));

    // Y from its own dataset, read alongside X; the same rows of one dataset with --target work too.
    await kiln.datasets.put("blobs-xy", data.X.map((r, i) => ({ ...r, label: data.labels[i]! })));
    const together = await (await kiln.runtime.model(model).partialFit({ dataset: "blobs-xy", columns: ["x0", "x1"] }, { dataset: "blobs-xy", columns: ["label"] }, { params: { batch_rows: 64 } })).get();
    expect(together.metrics.rows_trained).toBe(400);
    // Bad batching is refused before any training, and only PARTIAL_FIT batches.
    await expect((await kiln.runtime.model(model).partialFit("blobs-x", "blobs-y", { params: { batch_rows: 0 } })).get()).rejects.toMatchObject({ reason: "INVALID_BATCH_ROWS" });
    await expect((await kiln.runtime.model(model).partialFit("blobs-x", "blobs-y", { params: { batch_rows: 10, epochs: 1.5 } })).get()).rejects.toMatchObject({ reason: "INVALID_EPOCHS" });
    await expect((await kiln.runtime.model(model).fit("blobs-x", "blobs-y", { params: { batch_rows: 10 } })).get()).rejects.toMatchObject({ reason: "BATCHES_NEED_PARTIAL_FIT" });
    await kiln.datasets.put("blobs-y-short", data.y.slice(0, 399));
    await expect((await kiln.runtime.model(model).partialFit("blobs-x", "blobs-y-short", { params: { batch_rows: 100 } })).get()).rejects.toMatchObject({
      reason: "LENGTH_MISMATCH",
      message: expect.stringMatching(/x has 400 rows and y has 399/),
    });
  });

  it("transforms with a transformer (the same matrix as locally) and refuses to transform with a classifier", async () => {
    const local = new PCA({ nComponents: 2 }).fit(data.X.map((r) => [r.x0, r.x1]));
    const model = unique("pca");
    await kiln.models.put(model, local);
    const remote = await (await kiln.runtime.model(model).transform("blobs-x")).get();
    expect(remote.schema.fields.map((f) => f.name)).toEqual(["component_0", "component_1"]);
    // A transformer has no predictions (sklearn's PCA has no predict): PREDICT and SCORE say so instead of returning its components.
    for (const job of [kiln.runtime.model(model).predict("blobs-x"), kiln.runtime.model(model).score("blobs-x", "blobs-y")]) {
      await expect((await job).get()).rejects.toMatchObject({ reason: "NOT_A_PREDICTOR", message: expect.stringMatching(/\(PCA\) only transforms: it has nothing to (predict|score)/) });
    }
    // So does a Pipeline that ends in a transformer; one that ends in a predictor predicts.
    const scaling = unique("scaling");
    await kiln.models.put(scaling, new Pipeline([new StandardScaler(), new PCA({ nComponents: 1 })]).fit(data.X.map((r) => [r.x0, r.x1])));
    expect((await kiln.models.get(scaling)).metadata).toMatchObject({ predicts: false });
    await expect((await kiln.runtime.model(scaling).predict("blobs-x")).get()).rejects.toMatchObject({ reason: "NOT_A_PREDICTOR", message: expect.stringContaining("(Pipeline) only transforms") });
    expect((await (await kiln.runtime.model(scaling).transform("blobs-x")).get()).numCols).toBe(1);
    const expected = local.transform(data.X.map((r) => [r.x0, r.x1]));
    for (const i of [0, 1, 199, 399]) {
      expect(remote.getChild("component_0")!.get(i)).toBeCloseTo(expected.data[i * 2]!, 4);
      expect(remote.getChild("component_1")!.get(i)).toBeCloseTo(expected.data[i * 2 + 1]!, 4);
    }

    const clf = unique("clf");
    await kiln.models.put(clf, new LogisticRegression().fit([[0, 0], [1, 1]], [0, 1]));
    // A clusterer transforms into distances to its centers, as sklearn's KMeans.transform.
    const clusters = new KMeans({ nClusters: 3, randomState: 0 }).fit(data.X.map((r) => [r.x0, r.x1]));
    const km = unique("kmeans");
    await kiln.models.put(km, clusters);
    const distances = await (await kiln.runtime.model(km).transform("blobs-x")).get();
    expect(distances.numCols).toBe(3);
    const expectedDistances = clusters.transform(data.X.map((r) => [r.x0, r.x1]));
    expect(distances.getChild("component_2")!.get(7)).toBeCloseTo(expectedDistances.data[7 * 3 + 2]!, 4);
    // And scores as sklearn's KMeans.score: minus the inertia of X (y is not used).
    const scored = await (await kiln.runtime.model(km).score("blobs-x", "blobs-y")).get();
    expect(scored.score! / clusters.score(data.X.map((r) => [r.x0, r.x1]))).toBeCloseTo(1, 4);
    expect(scored.inertia).toBeCloseTo(-scored.score!, 6);
    expect(await (await kiln.runtime.model(km).score("blobs-x")).get()).toEqual(scored); // it needs no y
    // Fitted again remotely (no y), it reports its training score the same way, and its inertia.
    const refit = await (await kiln.runtime.model(km).fit("blobs-x")).get();
    expect(refit.metrics.inertia! / clusters.inertia).toBeCloseTo(1, 4);
    expect(refit.metrics.training_score).toBeCloseTo(-refit.metrics.inertia!, 6);
    await expect(kiln.runtime.model(clf).score("blobs-x")).rejects.toMatchObject({ reason: "INPUT_REQUIRED" }); // a classifier does

    const job = await kiln.runtime.model(clf).transform("blobs-x");
    const err = await job.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(err).toMatchObject({ reason: "NOT_A_TRANSFORMER", message: expect.stringMatching(/predicts labels \(outputs: label, probabilities\)/) });
    expect((await job.info()).attempts).toHaveLength(1);
  });

  it("re-fits a Pipeline put from a local one: its steps fitted anew on the job's data, step params from the job", async () => {
    const model = unique("pipe");
    const local = new Pipeline([new StandardScaler(), new LogisticRegression()]).fit([[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1]);
    await kiln.models.put(model, local);
    const refit = await (await kiln.runtime.model(model).fit("blobs-x", "blobs-y", { params: { logisticregression__C: 0.5 } })).get();
    expect(refit.modelVersion).toMatch(/versions\/2$/);
    expect(refit.metrics.training_score).toBeGreaterThan(0.9);
    const version = await kiln.models.get(`${model}:2`);
    expect(version.metadata).toMatchObject({ estimator: "Pipeline", features: ["x0", "x1"], classes: [0, 1] });
    const trained = loadModel(new TextDecoder().decode(await kiln.models.attachment(`${model}:2`, "kiln-ml.json"))) as Pipeline;
    expect(trained.getParams()).toMatchObject({ logisticregression__C: 0.5 });
    await expect((await kiln.runtime.model(model).fit("blobs-x", "blobs-y", { params: { nope__C: 1 } })).get()).rejects.toMatchObject({ reason: "UNKNOWN_PARAMETER" });
  });

  it("fits a Graph defined here and never fitted (traced expressions and layers, sent as data) on the executor", async () => {
    // y = 2a² − b + ab: a linear model on [scaled a, b; a², b²; ab] fits it; on a, b alone it cannot.
    const rows = Array.from({ length: 300 }, (_, i) => {
      const a = Math.sin(i * 1.3) * 3;
      const b = Math.cos(i * 0.7) * 2;
      return { a, b, y: 2 * a * a - b + a * b };
    });
    const name = unique("quadratic");
    await kiln.datasets.put(name, rows);
    const x = input(["a", "b"]);
    const graph = new Graph(x, concat(x.pipe(new StandardScaler(), "scale"), x.square(), x.col("a").mul(x.col("b"))).pipe(new Ridge({ alpha: 1 }), "ridge"));
    const model = unique("graph");
    await kiln.models.create(model, { estimator: graph });
    expect((await kiln.models.get(`${model}:1`)).metadata).toMatchObject({ estimator: "Graph", params: { ridge__alpha: 1, scale__withMean: true } });
    const fit = await (await kiln.runtime.model(model).fit({ dataset: name, columns: ["a", "b"] }, { dataset: name, columns: ["y"] }, { params: { ridge__alpha: 1e-6 } })).get();
    expect(fit.metrics.training_score).toBeGreaterThan(0.9999);

    const local = graph.setParams({ ridge__alpha: 1e-6 }).fit(rows.map((r) => [r.a, r.b]), rows.map((r) => r.y));
    // Rows name their columns in any order: the executor lays them out as the model's features.
    const remote = await (await kiln.runtime.model(model).predict(rows.slice(0, 20).map(({ a, b }) => ({ b, a })))).get();
    const expected = local.predict(rows.slice(0, 20).map((r) => [r.a, r.b]));
    [...remote.getChild("prediction")!].forEach((v, i) => expect(Number(v)).toBeCloseTo(expected[i]!, 3));
    const refused = unique("graph");
    await expect(kiln.models.create(refused, { estimator: graph, params: { ridge__alpha: 2 } })).rejects.toMatchObject({ reason: "PARAMS_WITH_ESTIMATOR" });
    await expect(kiln.models.get(refused)).rejects.toMatchObject({ reason: "MODEL_NOT_FOUND" });
  });

  it("re-fits a model put from a local estimator, and refuses to fit an uploaded ONNX model", async () => {
    const model = unique("local");
    await kiln.models.put(model, new LogisticRegression().fit([[0, 0], [1, 1], [0, 1], [1, 0]], [0, 1, 0, 1]));
    const refit = await (await kiln.runtime.model(model).fit("blobs-x", "blobs-y")).get();
    expect(refit.modelVersion).toMatch(/versions\/2$/);

    const onnxOnly = unique("onnx");
    await kiln.models.put(onnxOnly, linearRegressorOnnx([1, 2], 0));
    const err = await kiln.runtime.model(onnxOnly).fit("blobs-x", "blobs-y").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as FailedPreconditionError).reason).toBe("NOT_TRAINABLE");
  });

  it("runs a sequence (fit, then predict with the version the fit made into a dataset, then score what it wrote) and fails what comes after a failed step", async () => {
    const model = unique("seq");
    const out = unique("seq-out");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const [fit, predict, score] = await kiln.runtime.sequence([
      (rt) => rt.model(model).fit("blobs-x", "blobs-y"),
      (rt) => rt.model(model).predict("blobs-x", { output: out, keep: ["x0", "x1"] }),
      (rt) => rt.model(model).score({ dataset: out, columns: ["x0", "x1"] }, "blobs-y"),
    ]);
    expect((await score.info()).after).toEqual([predict.name]);
    const metrics = await score.get();
    expect(metrics.accuracy).toBeGreaterThan(0.9);
    const fitted = await fit.get();
    const predicted = await predict.info();
    expect(predicted.model).toBe(fitted.modelVersion);
    expect(predicted.after).toEqual([fit.name]);
    expect((await score.info()).x).toMatchObject({ dataset: `projects/default/datasets/${out}`, version: 1 });

    // Two predicts after one fit run side by side; a step after a failed fit never runs.
    const broken = unique("seq-broken");
    await kiln.models.create(broken, { estimator: "logistic_regression" });
    const badFit = await kiln.runtime.model(broken).fit("blobs-x", { dataset: "blobs-x", columns: ["x0"] });
    const after = kiln.runtime.after(badFit);
    const [p1, p2] = await Promise.all([after.model(broken).predict("blobs-x"), after.model(broken).predict("blobs-x")]);
    for (const p of [p1, p2]) {
      const err = await p.get().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FailedPreconditionError);
      expect((err as FailedPreconditionError).reason).toBe("AFTER_JOB_FAILED");
      expect((await p.info()).attempts).toEqual([]);
    }
    const late = await kiln.runtime.model(broken).predict("blobs-x", { after: badFit }).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(FailedPreconditionError);
    expect((late as FailedPreconditionError).reason).toBe("AFTER_JOB_FAILED");
  });

  it("reuses what earlier jobs that did the same work made: a pipeline submitted again runs only what changed", async () => {
    const model = unique("reuse");
    const out = unique("reuse-out");
    await kiln.models.create(model, { estimator: "logistic_regression", params: { C: 1 } });
    const pipeline = (C: number) =>
      kiln.runtime.reusing().sequence([
        (rt) => rt.model(`${model}:1`).fit("blobs-x", "blobs-y", { params: { C } }), // from the definition: "latest" moves with every fit
        (rt) => rt.model(model).predict("blobs-x", { output: out }), // the version the fit before made
        (rt) => rt.model(model).score("blobs-x", "blobs-y"),
      ]);
    const first = await pipeline(1);
    const accuracy = (await first[2].get()).accuracy;
    expect(accuracy).toBeGreaterThan(0.9);
    const firstInfos = await Promise.all(first.map((h) => h.info()));
    expect(firstInfos.map((i) => [i.reuse, i.reusedFrom])).toEqual([[true, ""], [true, ""], [true, ""]]);

    // The same pipeline again: nothing runs, every step takes what the first made.
    const again = await pipeline(1);
    expect((await again[2].get()).accuracy).toBe(accuracy);
    const infos = await Promise.all(again.map((h) => h.info()));
    expect(infos.map((i) => i.reusedFrom)).toEqual(first.map((h) => h.name));
    expect(infos.map((i) => i.attempts.length)).toEqual([0, 0, 0]);
    expect(infos[0]!.result!.modelVersion).toBe(`projects/default/models/${model}/versions/2`);
    expect((await kiln.models.log(model)).map((v) => v.version)).toEqual([2, 1]); // no new version
    expect((await kiln.datasets.info(out)).latestVersion).toBe(1); // nothing appended
    // The reused predict's rows are the first one's.
    const rows = async (h: JobHandle) => {
      let n = 0;
      for await (const chunk of h.results()) n += chunk.numRows;
      return n;
    };
    expect(await rows(again[1])).toBe(400);

    // Another C: the fit runs, and so do the steps after it, on what it made.
    const changed = await pipeline(0.001);
    await changed[2].get();
    const changedInfos = await Promise.all(changed.map((h) => h.info()));
    expect(changedInfos.map((i) => i.reusedFrom)).toEqual(["", "", ""]);
    expect(changedInfos[0]!.result!.modelVersion).toBe(`projects/default/models/${model}/versions/3`);
    expect(changedInfos[1]!.model).toBe(`projects/default/models/${model}/versions/3`);
    expect(changedInfos[1]!.result!.output).toEqual({ name: `projects/default/datasets/${out}`, version: 2 });

    // And C = 1 once more: the first run's jobs are still what that work made (version 2, out@1).
    const back = await pipeline(1);
    await back[2].get();
    expect((await Promise.all(back.map((h) => h.info()))).map((i) => i.reusedFrom)).toEqual(first.map((h) => h.name));

    // A grid search run again reuses every fit and score.
    const grid = { grid: { C: [0.1, 1] }, params: { maxIter: 30 }, scoreOn: ["blobs-x", "blobs-y"] as [string, string], reuse: true };
    const search = await kiln.runtime.model(`${model}:1`).gridSearch("blobs-x", "blobs-y", grid);
    const rerun = await kiln.runtime.model(`${model}:1`).gridSearch("blobs-x", "blobs-y", grid);
    expect(rerun.candidates.map((c) => c.modelVersion)).toEqual(search.candidates.map((c) => c.modelVersion));
    expect(rerun.candidates.map((c) => c.metrics)).toEqual(search.candidates.map((c) => c.metrics));
    for (const c of rerun.candidates) expect((await c.fit.info()).reusedFrom).not.toBe("");
  });

  it("grid-searches a model: a fit per combination, each scored on held-out data with its own version, the best picked", async () => {
    const model = unique("grid");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const held = blobs(100);
    await kiln.datasets.put("grid-test-x", held.X.map(({ x0, x1 }) => ({ x0: x0 + 0.1, x1 })));
    await kiln.datasets.put("grid-test-y", held.y);
    const progress: number[] = [];
    const search = await kiln.runtime.model(model).gridSearch("blobs-x", "blobs-y", {
      grid: { C: [0.0001, 1, -1] },
      params: { maxIter: 50 },
      scoreOn: ["grid-test-x", "grid-test-y"],
      onProgress: (done) => progress.push(done),
    });
    expect(search.metric).toBe("accuracy");
    expect(progress).toEqual([1, 2, 3]);
    expect(search.candidates.map((c) => c.params)).toEqual([{ maxIter: 50, C: 0.0001 }, { maxIter: 50, C: 1 }, { maxIter: 50, C: -1 }]);
    const [weak, strong, refused] = search.candidates;
    expect(refused!.error).toBeInstanceOf(InvalidArgumentError); // the estimator refuses C = -1
    expect(refused!.metrics).toBeUndefined();
    for (const c of [weak!, strong!]) expect((await c.score.info()).model).toBe(c.modelVersion); // each scored its own fit's version
    expect(new Set([weak!.modelVersion, strong!.modelVersion]).size).toBe(2);
    const best = [weak!, strong!].reduce((a, b) => (b.metrics!.accuracy! > a.metrics!.accuracy! ? b : a));
    expect(search.best.modelVersion).toBe(best.modelVersion);
    expect(search.best.metrics.accuracy).toBeGreaterThan(0.9);
    expect(search.ranked[0]).toBe(search.best);
    expect(search.ranked.at(-1)).toBe(refused); // unscored last
    await expect(kiln.runtime.model(model).gridSearch([{ x0: 1, x1: 2 }], undefined, { grid: { C: [1] } })).rejects.toThrow(/put local data with kiln.datasets.put first/);
    // Each fit and its score go in one call, all or none: scores that cannot be submitted (no such held-out data) leave no fit.
    const unscored = kiln.runtime.model(model).gridSearch("blobs-x", "blobs-y", { grid: { C: [1, 2] }, scoreOn: ["no-such-data", "blobs-y"], labels: ["nowhere"] });
    await expect(unscored).rejects.toBeInstanceOf(NotFoundError);
    expect(await kiln.runtime.jobs({ label: "nowhere" })).toEqual([]);
    // submitMany names an earlier spec of the same call by its index; a later one is refused before any call.
    const [first, second] = await kiln.runtime.submitMany([{ kind: "noop" }, { kind: "noop", after: 0 }]);
    expect((await second!.info()).after).toEqual([first!.name]);
    await expect(kiln.runtime.submitMany([{ kind: "noop", after: 1 }, { kind: "noop" }])).rejects.toThrow(/specs\[0\].after: 1 is not the index of an earlier spec/);
  });

  it("rejects unknown models and datasets at submit with NotFound, and fails a job whose data lacks the model's columns", async () => {
    await expect(kiln.runtime.model("no-such-model").predict("blobs-x")).rejects.toBeInstanceOf(NotFoundError);
    const model = unique("clf");
    await kiln.models.put(model, new LogisticRegression().fit([[0, 0], [1, 1]], [0, 1]));
    await expect(kiln.runtime.model(model).predict("no-such-data")).rejects.toBeInstanceOf(NotFoundError);

    await kiln.datasets.put("other-columns", [{ a: 1, b: 2 }]);
    const job = await kiln.runtime.model(model).predict({ dataset: "other-columns", columns: ["a"] });
    const err = await job.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as FailedPreconditionError).message).toMatch(/2 features/);
    const info = await job.info();
    expect(info.state).toBe("failed");
    expect(info.attempts).toHaveLength(1); // not worth a retry
  });

  it("submitMany: one call for many jobs, handles in order, local data sent along; a bad spec fails the call with its index and leaves no data", async () => {
    const model = unique("clf");
    await kiln.models.put(model, new LogisticRegression().fit(data.X.map((r) => [r.x0, r.x1]), data.labels));
    const handles = await kiln.runtime.submitMany([
      { kind: "noop", params: { sleep_ms: 1 } },
      { kind: "predict", model, x: "blobs-x" },
      { kind: "predict", model, x: data.X.slice(0, 7) },
      { kind: "score", model: `${model}:1`, x: "blobs-x", y: "blobs-y" },
    ]);
    expect(handles.map((h) => h.name)).toEqual([...handles.map((h) => h.name)].sort());
    expect(((await handles[0]!.get()) as { state: string }).state).toBe("succeeded");
    expect(((await handles[1]!.get()) as Table).numRows).toBe(400);
    expect(((await handles[2]!.get()) as Table).numRows).toBe(7);
    expect(((await handles[3]!.get()) as Record<string, number>).accuracy).toBeGreaterThan(0.9);

    const before = new Set((await kiln.datasets.list()).map((d) => d.name));
    const err = await kiln.runtime
      .submitMany([
        { kind: "predict", model, x: data.X.slice(0, 3) },
        { kind: "predict", model: "no-such-model", x: "blobs-x" },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/requests\[1\]: /);
    // The first spec's local data went up as a temporary dataset; the failed call took it back.
    expect((await kiln.datasets.list()).filter((d) => !before.has(d.name))).toEqual([]);
    await expect(kiln.runtime.submitMany([{ kind: "nonsense" as "noop" }])).rejects.toThrow(/unknown job kind "nonsense"/);
  });

  it("local data travels in the submit up to 1 MiB of Arrow (the scheduler stores it), and is uploaded first beyond", async () => {
    const model = unique("lin");
    await kiln.models.put(model, linearRegressorOnnx([1, 2], 0.5));
    const matrix = (n: number) => Array.from({ length: n }, (_, i) => [Math.sin(i), Math.cos(i)]);
    /** Submits a predict no executor takes (it stays queued, its input stored), reads how its input was stored, then cancels it. */
    async function howStored(X: number[][]): Promise<{ comment: string; rows: number }> {
      const job = await kiln.runtime.require({ labels: ["nobody"] }).model(model).predict(X);
      const x = (await job.info()).x!;
      expect(x).toMatchObject({ temporary: true, columns: ["x0", "x1"] });
      const name = x.dataset.split("/").pop()!;
      const [version] = await kiln.datasets.versions(name);
      const rows = ((await kiln.datasets.get(name)) as Table).numRows;
      await job.cancel();
      await expect.poll(async () => (await kiln.datasets.list()).some((d) => d.name === name), { timeout: 5000 }).toBe(false);
      return { comment: version!.comment, rows };
    }
    expect(await howStored(matrix(10))).toEqual({ comment: "job input from the request", rows: 10 });
    expect(await howStored(matrix(80_000))).toEqual({ comment: "job input", rows: 80_000 });
    // Either way the job predicts every row.
    const predicted = await (await kiln.runtime.model(model).predict(matrix(80_000))).get();
    expect(predicted.numRows).toBe(80_000);
    expect(predicted.getChildAt(0)!.get(7)).toBeCloseTo(Math.sin(7) + 2 * Math.cos(7) + 0.5, 5);
  });

  it("any gRPC client predicts on rows carried in the submit, and reads the results stream; JSON over HTTP/1.1 submits the same, as curl does", async () => {
    const model = unique("lin");
    await kiln.models.put(model, linearRegressorOnnx([1, 2], 0.5));
    const runtime = createClient(RuntimeService, createGrpcTransport({ baseUrl: running.server.url }));
    const { job } = await runtime.submitJob({
      parent: "projects/default",
      job: { kind: JobKind.PREDICT, model: `projects/default/models/${model}`, x: { local: { case: "data", value: fromJson(ValueSchema, [[1, 2], [3, 4], [-1, 0.5]]) } } },
    });
    const predictions: number[] = [];
    for await (const { chunk } of runtime.readJobResults({ name: job!.name })) predictions.push(...(tableFromIPC(chunk!.arrowIpc).getChild("prediction")!.toArray() as Float32Array));
    expect(predictions).toEqual([5.5, 11.5, 0.5]);

    const post = async (method: string, body: unknown) => {
      const res = await fetch(`${running.server.url}/kiln.runtime.v1.RuntimeService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };
    /** A server-streaming call with the Connect protocol's JSON envelopes: a flags byte and a 4-byte length before each message. */
    const postStream = async (method: string, body: unknown) => {
      const json = Buffer.from(JSON.stringify(body));
      const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
      envelope.writeUInt32BE(json.length, 1);
      const res = await fetch(`${running.server.url}/kiln.runtime.v1.RuntimeService/${method}`, { method: "POST", headers: { "content-type": "application/connect+json" }, body: envelope });
      expect(res.status).toBe(200);
      const bytes = Buffer.from(await res.arrayBuffer());
      const messages: Record<string, any>[] = [];
      for (let at = 0; at < bytes.length; at += 5 + bytes.readUInt32BE(at + 1)) {
        const message = JSON.parse(bytes.subarray(at + 5, at + 5 + bytes.readUInt32BE(at + 1)).toString());
        messages.push(bytes[at]! & 2 ? { end: message } : message);
      }
      return messages;
    };
    const submitted = await post("SubmitJob", { parent: "projects/default", job: { kind: "JOB_KIND_PREDICT", model: `projects/default/models/${model}`, x: { data: [{ x0: 1, x1: 2 }] }, outputDataset: "projects/default/datasets/curl-predictions" } });
    expect(submitted.status).toBe(200);
    expect(submitted.body.job.x).toMatchObject({ temporary: true });
    expect(submitted.body.job.x.data).toBeUndefined();
    await expect.poll(async () => (await post("GetJob", { name: submitted.body.job.name })).body.job.state, { timeout: 10_000 }).toBe("JOB_STATE_SUCCEEDED");
    expect([...((await kiln.datasets.get("curl-predictions")) as Table).getChild("prediction")!]).toEqual([5.5]);
    // The results stream as JSON rows: Connect's streaming protocol (one enveloped request, enveloped messages back), as curl sends it.
    const { job: many } = (await post("SubmitJob", { parent: "projects/default", job: { kind: "JOB_KIND_PREDICT", model: `projects/default/models/${model}`, x: { data: { x0: [1, 3, -1], x1: [2, 4, 0.5] } } } })).body;
    const messages = await postStream("ReadJobResults", { name: many.name, encoding: "ROW_ENCODING_JSON" });
    expect(messages.at(-1)).toEqual({ end: {} }); // the end of the stream, without an error
    expect(messages.slice(0, -1)).toEqual([{ json: { rows: [{ prediction: 5.5 }, { prediction: 11.5 }, { prediction: 0.5 }], columns: ["prediction"] } }]); // sequence 0, the default, is left out of JSON
    const refusedEncoding = await postStream("ReadJobResults", { name: many.name, encoding: 7 });
    expect(refusedEncoding).toEqual([{ end: { error: expect.objectContaining({ code: "invalid_argument", message: expect.stringContaining("encoding 7 is not a RowEncoding") }) } }]);
    // Bad data is refused with the field named, as JSON like any error.
    const refused = await post("SubmitJob", { parent: "projects/default", job: { kind: "JOB_KIND_PREDICT", model: `projects/default/models/${model}`, x: { data: "1,2" } } });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("job.x.data takes an array of row objects") });
  });

  it("lists jobs and the embedded executor", async () => {
    const jobs = await kiln.runtime.jobs({ limit: 5 });
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs[0]!.createTime!.getTime()).toBeGreaterThanOrEqual(jobs.at(-1)!.createTime!.getTime());
    const executors = await kiln.runtime.executors();
    expect(executors).toHaveLength(1);
    expect(executors[0]!.slots).toBeGreaterThan(0);
  });
});
