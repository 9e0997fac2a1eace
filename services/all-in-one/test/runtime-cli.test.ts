import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays, type Table } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parquetMetadata, parquetReadObjects } from "hyparquet";
import type { RunningProcess } from "@kiln/core";
import { startHttpReceiver } from "@kiln/core/testing";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { cli, KILN_BIN, unique } from "./helpers.js";


/** y = 2a - 3b + 1 exactly, so a linear regression fits it with r2 = 1. */
const rows = Array.from({ length: 50 }, (_, i) => {
  const a = i * 0.5;
  const b = Math.sin(i);
  return { a, b, y: 2 * a - 3 * b + 1 };
});

describe("kiln runtime:* and jobs:* against a real server running jobs", () => {
  let dir: string;
  let running: RunningProcess;
  let sdk: Kiln;
  const { kiln, kilnFails } = cli(() => running.server.url);
  /** A model fitted once on lin-x / lin-y, for the verbs that need a trained one. */
  let fitted: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-runtime-cli-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    sdk = await Kiln.connect(running.server.url);
    await sdk.datasets.put("lin", rows);
    await sdk.datasets.put("lin-x", rows.map(({ a, b }) => ({ a, b })));
    await sdk.datasets.put("lin-y", rows.map(({ y }) => ({ y })));
    fitted = unique("fitted");
    await sdk.models.create(fitted, { estimator: "linear_regression" });
    await (await sdk.runtime.model(fitted).fit("lin-x", "lin-y")).get();
  });
  afterAll(async () => {
    sdk?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("fits from X and Y datasets, and with --columns/--target from one dataset (--json)", async () => {
    const model = unique("lin");
    await sdk.models.create(model, { estimator: "linear_regression" });
    const printed = await kiln("runtime:fit", model, "lin-x", "lin-y");
    expect(printed).toMatch(new RegExp(`^${model}: version 2, fitted by job \\w+\\n  training_score: 1\\n$`));

    const json = JSON.parse(await kiln("--json", "runtime:fit", model, "lin@1", "--columns", "a,b", "--target", "y", "--param", "fitIntercept=true", "--max-attempts", "2", "--timeout", "30")) as {
      job: string;
      model: string;
      version: number;
      modelVersion: string;
      metrics: Record<string, number>;
    };
    expect(json).toMatchObject({ model, version: 3, modelVersion: `projects/default/models/${model}/versions/3` });
    expect(json.metrics.training_score).toBeCloseTo(1, 9);
    const version = await sdk.models.get(`${model}:3`);
    expect(version.metadata).toMatchObject({ features: ["a", "b"], target: "y" });
    expect(version.lineage?.sourceDatasets).toEqual([{ name: "projects/default/datasets/lin", version: 1 }]); // X and Y: one dataset, named once
    const job = await sdk.runtime.job(json.job).info();
    expect(job).toMatchObject({ kind: "fit", maxAttempts: 2, params: { fitIntercept: true } });
    const shown = await kiln("jobs:show", json.job);
    expect(shown).toMatch(/^x:\s+lin@1 columns a, b$/m);
    expect(shown).toMatch(/^y:\s+lin@1 columns y$/m);

    // Features in another order than stored, read with the target in one pass: each by its name.
    const reversed = JSON.parse(await kiln("--json", "runtime:fit", `${model}:1`, "lin", "--columns", "b,a", "--target", "y")) as { version: number };
    expect((await sdk.models.get(`${model}:${reversed.version}`)).metadata).toMatchObject({ features: ["b", "a"], target: "y" });
    const predicted = (await kiln("runtime:predict", `${model}:${reversed.version}`, "lin-x")).trim().split("\n").slice(1).map(Number);
    expect(predicted).toEqual(rows.map((r) => expect.closeTo(r.y, 4)));
  });

  it("models:create --estimator defines an untrained estimator that runtime:fit trains; a bad kind or param creates nothing", async () => {
    const model = unique("ridge");
    expect(await kiln("models:create", model, "--estimator", "ridge", "--param", "alpha=0.001")).toBe(`created ${model}, version 1: Ridge (untrained)\n`);
    const untrained = await sdk.models.get(`${model}:1`);
    expect(untrained).toMatchObject({ format: "kiln-ml", metadata: { estimator: "Ridge", params: { alpha: 0.001 } } });
    expect(await kiln("runtime:fit", model, "lin-x", "lin-y")).toMatch(new RegExp(`^${model}: version 2, fitted by job \\w+\\n  training_score: (1|0\\.99\\d*)\\n$`));
    expect((await sdk.models.get(`${model}:2`)).metadata).toMatchObject({ estimator: "Ridge", params: { alpha: 0.001 } });
    // Params in sklearn's snake_case, as runtime:fit --param takes them.
    const snake = unique("snake");
    expect(await kiln("models:create", snake, "--estimator", "logistic_regression", "--param", "fit_intercept=false", "--param", "max_iter=50")).toBe(`created ${snake}, version 1: LogisticRegression (untrained)\n`);

    const failures = [
      [["--estimator", "no_such_estimator"], /unknown estimator "no_such_estimator"; known: .*LinearRegression/],
      [["--estimator", "ridge", "--param", "no_such_param=1"], /Ridge has no parameter "no_such_param" \(it has alpha/],
      [["--param", "alpha=1"], /--param needs --estimator/],
    ] as const;
    for (const [flags, message] of failures) {
      const name = unique("bad");
      const failed = await kilnFails("models:create", name, ...flags);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(message);
      await expect(sdk.models.info(name)).rejects.toMatchObject({ reason: "MODEL_NOT_FOUND" });
    }
  });

  it("predicts to stdout as CSV, to -o files, and into a dataset with --output", async () => {
    const csv = (await kiln("runtime:predict", fitted, "lin-x")).trim().split("\n");
    expect(csv[0]).toBe("prediction");
    expect(csv).toHaveLength(51);
    expect(Number(csv[11])).toBeCloseTo(rows[10]!.y, 6);

    const file = join(dir, "preds.csv");
    const printed = await kiln("runtime:predict", fitted, "lin-x", "-o", file, "--output", "lin-preds");
    expect(printed).toMatch(/^wrote 50 rows to .*preds\.csv and lin-preds@1 \(job \w+\)\n$/);
    const lines = (await readFile(file, "utf8")).trim().split("\n");
    expect(lines[0]).toBe("prediction");
    expect(lines).toHaveLength(51);
    expect(((await sdk.datasets.get("lin-preds")) as Table).numRows).toBe(50);

    const ndjson = join(dir, "preds.ndjson");
    const summary = JSON.parse(await kiln("--json", "runtime:predict", fitted, "lin-x@1", "-o", ndjson)) as { rows: number; file: string };
    expect(summary).toMatchObject({ rows: 50, file: ndjson });
    const first = JSON.parse((await readFile(ndjson, "utf8")).split("\n")[0]!) as { prediction: number };
    expect(first.prediction).toBeCloseTo(rows[0]!.y, 6);

    // Parquet, as pandas reads it: the float32 predictions as FLOAT.
    const parquet = join(dir, "preds.parquet");
    expect(await kiln("runtime:predict", fitted, "lin", "--columns", "a,b", "--keep", "a", "-o", parquet)).toMatch(/^wrote 50 rows to .*preds\.parquet/);
    const bytes = await readFile(parquet);
    const written = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    expect(parquetMetadata(written).schema.slice(1).map((e) => [e.name, e.type])).toEqual([["a", "DOUBLE"], ["prediction", "FLOAT"]]);
    const read = (await parquetReadObjects({ file: written })) as { a: number; prediction: number }[];
    expect(read.map((r) => r.a)).toEqual(rows.map((r) => r.a));
    read.forEach((r, i) => expect(r.prediction).toBeCloseTo(rows[i]!.y, 4));
  });

  it("scores: r2 of 1 on exact linear data", async () => {
    expect(await kiln("runtime:score", fitted, "lin-x", "lin-y")).toMatch(/^r2:\s+1\n/m);
    const json = JSON.parse(await kiln("--json", "runtime:score", fitted, "lin", "lin", "--columns", "a,b", "--target", "y")) as { job: string; metrics: Record<string, number> };
    expect(json.metrics.r2).toBeCloseTo(1, 9);
    expect(json.metrics.mse).toBeCloseTo(0, 9);
    // As for runtime:fit, --target without Y takes the target from X.
    expect(await kiln("runtime:score", fitted, "lin", "--target", "y")).toMatch(/^r2:\s+1\n/m);
    // Other metrics by sklearn's names, or all of MLflow evaluate's.
    expect(await kiln("runtime:score", fitted, "lin-x", "lin-y", "--metric", "rmse", "--metric", "max_error")).toMatch(/^rmse:\s+[\d.e-]+\nmax_error:\s+[\d.e-]+\n$/);
    expect(JSON.parse(await kiln("--json", "runtime:score", fitted, "lin-x", "lin-y", "--metric", "all")).metrics).toMatchObject({ r2: expect.any(Number), rmse: expect.any(Number), mape: expect.any(Number) });
    expect((await kilnFails("runtime:score", fitted, "lin-x", "lin-y", "--metric", "auc")).stderr).toMatch(/"auc" is not a metric.*INVALID_PARAMS/);
  });

  it("explains rows with runtime:explain: Shapley values as CSV, each feature's mean |value| as bars, and jobs:show and kiln jobs show them", async () => {
    const csv = await kiln("runtime:explain", fitted, "lin-x", "--filter", "a < 2");
    const [header, ...lines] = csv.trim().split("\n");
    expect(header).toBe("prediction,base_value,shap_a,shap_b");
    expect(lines).toHaveLength(4);
    const meanA = rows.reduce((s, r) => s + r.a, 0) / rows.length;
    const meanB = rows.reduce((s, r) => s + r.b, 0) / rows.length;
    lines.forEach((line, i) => {
      const [prediction, base, shapA, shapB] = line.split(",").map(Number);
      expect(shapA).toBeCloseTo(2 * (rows[i]!.a - meanA), 3);
      expect(shapB).toBeCloseTo(-3 * (rows[i]!.b - meanB), 3);
      expect(base! + shapA! + shapB!).toBeCloseTo(prediction!, 6);
    });

    const summary = await kiln("runtime:explain", fitted, "lin-x", "--summary", "--background", "lin-x", "--background-rows", "20", "--method", "permutation", "--permutations", "2");
    expect(summary).toMatch(new RegExp(`^${fitted}:2 explained on 50 rows, against 20 background rows of lin-x@1 \\(permutation: 2 orderings a row, each both ways\\)\n`));
    expect(summary).toMatch(/^prediction: base value [\d.-]+, 50 rows$/m);
    expect(summary).toMatch(/^FEATURE\s+MEAN \|SHAP\|\s+MEAN SHAP\s*\na\s+[\d.]+\s+[+-]?[\d.e-]+\s+█{24}\nb\s+[\d.]+\s+[+-]?[\d.e-]+\s+█+\n$/m);

    const [job] = await sdk.runtime.jobs({ limit: 1 });
    expect(job).toMatchObject({ kind: "explain", state: "succeeded" });
    const shown = await kiln("jobs:show", job!.id);
    expect(shown).toMatch(/^kind:\s+explain$/m);
    expect(shown).toMatch(/^y:\s+lin-x@1$/m);
    expect(shown).toMatch(/^prediction: base value/m);
    expect(shown).not.toMatch(/^metrics:/m);
    expect(await kiln("jobs", "--limit", "1")).toMatch(/50 rows, most important: a \([\d.]+\), b \([\d.]+\)/);
    const json = JSON.parse(await kiln("--json", "runtime:explain", fitted, "lin-x", "--summary")) as { rows: number; method: string; outputs: { features: { feature: string }[] }[] };
    expect(json).toMatchObject({ rows: 50, method: "exact" });
    expect(json.outputs[0]!.features.map((f) => f.feature)).toEqual(["a", "b"]);
    expect((await kilnFails("runtime:explain", fitted, "lin-x", "--class", "x")).stderr).toMatch(/params\.class: projects\/default\/models\/\S+ predicts numbers, not classes.*NOT_A_CLASSIFIER/);
    expect((await kilnFails("runtime:explain", fitted, "lin-x", "--method", "tree")).stderr).toMatch(/method "tree" explains tree ensembles.*NOT_A_TREE_ENSEMBLE/);

    const tree = unique("explained-tree");
    await sdk.models.create(tree, { estimator: "decision_tree_regressor", params: { maxDepth: 4 } });
    await (await sdk.runtime.model(tree).fit("lin-x", "lin-y")).get();
    const byTree = await kiln("runtime:explain", tree, "lin-x", "--summary", "--method", "tree");
    expect(byTree).toMatch(new RegExp(`^${tree}:2 explained on 50 rows, against 50 background rows of lin-x@1 \\(tree: Tree SHAP\\)\n`));
  });

  it("--reuse takes the result of an earlier job that did the same work instead of running", async () => {
    const model = unique("reused");
    await sdk.models.create(model, { estimator: "linear_regression" });
    type Fitted = { job: string; version: number; reusedFrom?: string };
    const fit = async () => JSON.parse(await kiln("--json", "runtime:fit", `${model}:1`, "lin-x", "lin-y", "--reuse")) as Fitted;
    const first = await fit();
    expect(first.reusedFrom).toBeUndefined();
    const second = await fit();
    expect(second).toMatchObject({ version: first.version, reusedFrom: first.job });
    expect(second.job).not.toBe(first.job);
    const shown = await kiln("jobs:show", second.job);
    expect(shown).toMatch(new RegExp(`^reused from:\\s+${first.job}$`, "m"));
    expect(shown).not.toMatch(/^attempts:/m);
    expect(shown).toMatch(/^progress:\s+reused$/m);
    expect((await kiln("jobs", "--model", model)).split("\n").find((line) => line.startsWith(second.job))).toMatch(new RegExp(`succeeded\\s+0\\s+\\S+\\s+reused ${first.job}, version ${model}:2`));
    // Without --reuse the same fit runs again: a new version.
    expect((JSON.parse(await kiln("--json", "runtime:fit", `${model}:1`, "lin-x", "lin-y")) as Fitted).version).toBe(first.version + 1);

    const score = async () => JSON.parse(await kiln("--json", "runtime:score", fitted, "lin-x", "lin-y", "--reuse")) as { job: string; metrics: Record<string, number>; reusedFrom?: string };
    const scored = await score();
    // The first may itself reuse a score another test ran: either way the second takes the one that ran.
    expect(await score()).toEqual({ job: expect.any(String), metrics: scored.metrics, reusedFrom: scored.reusedFrom ?? scored.job });
    // The rows of a reused predict are the earlier one's, streamed as they were.
    const predicted = await kiln("runtime:predict", fitted, "lin-x", "--reuse");
    expect(await kiln("runtime:predict", fitted, "lin-x", "--reuse")).toBe(predicted);
  });

  it("--filter picks X's rows, of a dataset or a local file, and with --target the same rows of Y", async () => {
    const kept = rows.filter((r) => r.a >= 10);
    const predicted = (await kiln("runtime:predict", fitted, "lin-x", "--filter", "a >= 10")).trim().split("\n");
    expect(predicted.slice(1).map(Number)).toEqual(kept.map((r) => expect.closeTo(r.y, 4))); // float32 predictions
    // --keep copies X's columns into each row, so the filtered rows say which they are.
    const keptRows = (await kiln("runtime:predict", fitted, "lin", "--columns", "a,b", "--filter", "a >= 10", "--keep", "a,y")).trim().split("\n");
    expect(keptRows[0]).toBe("a,y,prediction");
    expect(keptRows.slice(1).map((line) => line.split(",").map(Number))).toEqual(kept.map((r) => [r.a, r.y, expect.closeTo(r.y, 4)]));
    const keepJob = JSON.parse((await kiln("--json", "jobs", "--limit", "1")))[0] as { id: string };
    expect(await kiln("jobs:show", keepJob.id)).toMatch(/^keep:\s+a, y$/m);
    expect((await kilnFails("runtime:predict", fitted, "lin", "--columns", "a,b", "--keep", "z")).stderr).toMatch(/job.keep_columns: projects\/default\/datasets\/lin has no column "z" \(it has a, b, y\) \(UNKNOWN_COLUMN\)/);
    await writeFile(join(dir, "filtered.csv"), ["a,b,y", ...rows.map((r) => `${r.a},${r.b},${r.y}`)].join("\n") + "\n");
    const fromFile = (await kiln("runtime:predict", fitted, join(dir, "filtered.csv"), "--filter", "a >= 10")).trim().split("\n");
    expect(fromFile).toHaveLength(kept.length + 1);

    // Features and target from one dataset: both filtered alike, so the job's rows pair up.
    const model = unique("filtered");
    await sdk.models.create(model, { estimator: "linear_regression" });
    const json = JSON.parse(await kiln("--json", "runtime:fit", model, "lin", "--target", "y", "--filter", "a >= 10")) as { job: string; metrics: Record<string, number> };
    expect(json.metrics.training_score).toBeCloseTo(1, 9);
    const shown = await kiln("jobs:show", json.job);
    expect(shown).toMatch(/^x:\s+lin@1 where a >= 10$/m);
    expect(shown).toMatch(/^y:\s+lin@1 columns y where a >= 10$/m);
    expect(await kiln("runtime:score", `${model}:2`, join(dir, "filtered.csv"), "--target", "y", "--filter", "a < 10")).toMatch(/^r2:\s+1\n/);

    expect((await kilnFails("runtime:fit", model, "lin-x", "lin-y", "--filter", "a >= 10")).stderr).toMatch(/--filter picks rows of X with its --target column; with a Y of its own/);
    expect((await kilnFails("runtime:predict", fitted, "lin-x", "--filter", "a >=")).stderr).toMatch(/INVALID_FILTER/);
    expect((await kilnFails("runtime:predict", fitted, join(dir, "filtered.csv"), "--filter", "zz > 1")).stderr).toMatch(/unknown column "zz"/);
  });

  it("lists jobs, shows one with its attempts, and watches one to its end", async () => {
    const id = (await kiln("runtime:predict", fitted, "lin-x", "--no-wait")).trim();
    expect(id).toMatch(/^\w+$/);
    const watched = await kiln("jobs:watch", id);
    expect(watched).toMatch(new RegExp(`^job ${id} succeeded: 50 rows\\n$`, "m"));

    // A job submitted with --no-wait has its rows read later.
    const rowsBack = (await kiln("jobs:results", id)).trim().split("\n");
    expect(rowsBack).toHaveLength(51);
    expect(Number(rowsBack[1])).toBeCloseTo(rows[0]!.y, 6);
    const file = join(dir, "later.ndjson");
    expect(await kiln("jobs:results", id, "-o", file)).toBe(`wrote 50 rows to ${file} (job ${id})\n`);
    expect((await readFile(file, "utf8")).trim().split("\n")).toHaveLength(50);
    const fitJob = (await sdk.runtime.jobs({ model: fitted })).find((j) => j.kind === "fit")!;
    expect((await kilnFails("jobs:results", fitJob.id)).stderr).toMatch(/is a fit job: only predict, predict_proba, transform and explain jobs have result rows/);

    const table = await kiln("jobs", "--model", fitted, "--limit", "5");
    expect(table.split("\n")[0]).toMatch(/^ID\s+KIND\s+MODEL\s+STATE\s+ATTEMPTS\s+CREATED\s+PROGRESS$/);
    expect(table).toMatch(new RegExp(`^${id}\\s+predict\\s+${fitted}:2\\s+succeeded\\s+1\\s+\\d{4}-\\S+\\s+50 rows$`, "m"));
    const listed = JSON.parse(await kiln("--json", "jobs", "--model", fitted, "--state", "succeeded", "--limit", "1000")) as { id: string; kind: string }[];
    expect(listed.map((j) => j.kind)).toEqual(expect.arrayContaining(["fit", "predict"]));
    expect(listed.every((j, i) => i === 0 || j.id <= listed[i - 1]!.id)).toBe(true);
    // One version's jobs: version 1 (untrained) was only fitted.
    const ofVersion1 = JSON.parse(await kiln("--json", "jobs", "--model", `${fitted}:1`)) as { kind: string }[];
    expect(ofVersion1.length).toBeGreaterThan(0);
    expect(new Set(ofVersion1.map((j) => j.kind))).toEqual(new Set(["fit"]));

    // A long error is cut short in the list (it used to widen every row), and shown whole by jobs:show.
    const broken = unique("broken");
    await sdk.models.create(broken, { estimator: "logistic_regression" });
    const failed = await sdk.runtime.model(broken).fit("lin-x", "lin-y", { params: { no_such_param: 1 } });
    await expect(failed.get()).rejects.toMatchObject({ reason: "UNKNOWN_PARAMETER" });
    const row = (await kiln("jobs", "--model", broken)).split("\n")[1]!;
    expect(row).toMatch(new RegExp(`^${failed.id}\\s+fit\\s+${broken}:1\\s+failed\\s+1\\s+\\S+\\s+LogisticRegression has no parameter "no_such_param" \\(it has .{10,}…$`));
    expect(row.slice(row.indexOf("LogisticRegression"))).toHaveLength(100);
    expect(await kiln("jobs:show", failed.id)).toMatch(/warmStart\)/);

    const shown = await kiln("jobs:show", id);
    expect(shown).toMatch(/^kind:\s+predict$/m);
    expect(shown).toMatch(new RegExp(`^model:\\s+${fitted}:2$`, "m"));
    expect(shown).toMatch(/^x:\s+lin-x@1$/m);
    expect(shown).toMatch(/^state:\s+succeeded$/m);
    expect(shown).toMatch(/^rows:\s+50$/m);
    expect(shown).toMatch(/attempts:\n#\s+EXECUTOR\s+STARTED\s+ENDED\s+ERROR\n1\s+\S+\s+\d{4}-\S+\s+\d{4}-/);
    const json = JSON.parse(await kiln("--json", "jobs:show", id)) as { id: string; state: string; result: { rows: number } };
    expect(json).toMatchObject({ id, state: "succeeded", result: { rows: 50 } });
  });

  it("chains jobs with --after and --no-wait: a predict after the fit it needs uses the version the fit made", async () => {
    const model = unique("chain");
    await sdk.models.create(model, { estimator: "linear_regression" });
    const fitId = (await kiln("runtime:fit", model, "lin-x", "lin-y", "--no-wait")).trim();
    const predictId = (await kiln("runtime:predict", model, "lin-x", "--after", fitId, "--no-wait")).trim();
    expect(await kiln("jobs:show", predictId)).toMatch(new RegExp(`^after:\\s+${fitId}$`, "m"));
    expect(await kiln("jobs:watch", predictId)).toMatch(new RegExp(`^job ${predictId} succeeded: 50 rows\\n$`, "m"));
    expect(await kiln("jobs:show", predictId)).toMatch(new RegExp(`^model:\\s+${model}:2$`, "m"));

    const badFit = (await kiln("runtime:fit", model, "lin-x", "lin-x", "--no-wait")).trim(); // two targets: a linear regression takes one
    await kilnFails("jobs:watch", badFit);
    const refused = await kilnFails("runtime:predict", model, "lin-x", "--after", badFit);
    expect(refused.stderr).toMatch(new RegExp(`job.after names \\S+${badFit}, which failed, so this job would never run`));

    // A job waits for one no executor takes; the list says so; cancelling the first cancels it.
    const stuck = (await kiln("runtime:fit", model, "lin-x", "lin-y", "--require", "gpu", "--no-wait")).trim();
    const waiting = (await kiln("runtime:score", model, "lin-x", "lin-y", "--after", stuck, "--no-wait")).trim();
    expect(await kiln("jobs", "--state", "queued")).toMatch(new RegExp(`^${waiting}\\s+score\\s+${model}:latest\\s+queued\\s+0\\s+\\S+\\s+waiting for ${stuck}$`, "m"));
    await kiln("jobs:cancel", stuck);
    expect((await kilnFails("jobs:watch", waiting)).stderr).toMatch(/cancelled: job \w+, which this job runs after, was cancelled/);
  });

  it("grid-searches with runtime:gridsearch: a fit per combination, ranked by score, the best version named", async () => {
    const model = unique("grid");
    await sdk.models.create(model, { estimator: "linear_regression" });
    const printed = await kiln("runtime:gridsearch", model, "lin", "--target", "y", "--grid", "fit_intercept=true,false");
    const lines = printed.trim().split("\n");
    expect(lines[0]).toMatch(/^#\s+VERSION\s+FIT_INTERCEPT\s+R2\s+ERROR$/);
    // The two fits run side by side: either may make version 2.
    const best = new RegExp(`^1\\s+(${model}:[23])\\s+true\\s+1\\s*$`).exec(lines[1]!)?.[1];
    expect(best).toBeDefined();
    expect(lines[2]).toMatch(new RegExp(`^2\\s+${model}:[23]\\s+false\\s+0\\.\\d+\\s*$`));
    expect(lines[3]).toBe(`best: ${best} (fit_intercept=true), r2 1`);

    const json = JSON.parse(await kiln("--json", "runtime:gridsearch", model, "lin-x", "lin-y", "--grid", "fit_intercept=false", "--metric", "mse")) as {
      metric: string;
      lowerIsBetter: boolean;
      best: { modelVersion: string; params: Record<string, unknown> };
      candidates: { fitJob: string; scoreJob: string }[];
    };
    expect(json).toMatchObject({ metric: "mse", lowerIsBetter: true, best: { modelVersion: `projects/default/models/${model}/versions/4`, params: { fit_intercept: false } } });
    expect(json.candidates).toHaveLength(1);
    expect((await kilnFails("runtime:gridsearch", model, "lin-x", "lin-y")).stderr).toMatch(/needs at least one --grid param=v1,v2/);
    expect((await kilnFails("runtime:gridsearch", model, "lin-x", "lin-y", "--grid", "C")).stderr).toMatch(/--grid takes param=v1,v2,..., got "C"/);
  });

  it("watches a long job change by change until it is cancelled (watch then exits 1)", async () => {
    const long = await sdk.runtime.noop({ params: { sleep_ms: 5000 } });
    const watcher = spawn(process.execPath, [KILN_BIN, "--url", running.server.url, "jobs:watch", long.id]);
    let out = "";
    let err = "";
    watcher.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on("close", resolve));
    // Cancel once the watch has shown the job running: progress lines, then the end.
    const seenRunning = new Promise<void>((resolve) =>
      watcher.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (/^running\s+\d+%, sleeping$/m.test(out)) resolve();
      }),
    );
    await Promise.race([seenRunning, exited.then((code) => Promise.reject(new Error(`jobs:watch exited (${code}) first: ${out}${err}`)))]);
    expect(await kiln("jobs:cancel", long.id)).toBe(`cancelled ${long.id}\n`);
    expect(await exited).toBe(1);
    expect(err).toMatch(new RegExp(`job ${long.id} cancelled: the job was cancelled \\(CANCELLED_BY_USER\\)`));
    expect(await kiln("jobs:cancel", long.id)).toMatch(/had already cancelled; nothing to cancel/);
    expect(await kiln("jobs:show", long.id)).toMatch(/^error:\s+the job was cancelled \(CANCELLED, CANCELLED_BY_USER\)$/m);

    // No executor has the label "gpu": the job waits in its queue until cancelled.
    const queued = (await kiln("runtime:predict", fitted, "lin-x", "--require", "gpu", "--no-wait")).trim();
    expect(await kiln("jobs", "--label", "gpu", "--state", "queued")).toMatch(new RegExp(`^${queued}\\s+predict\\s+${fitted}:2\\s+queued\\s+0\\s`, "m"));
    expect(await kiln("jobs:cancel", queued)).toBe(`cancelled ${queued}\n`);

    // Waiting on such a job, the CLI says why after a few seconds, once, and the job ends when cancelled.
    const waiting = spawn(process.execPath, [KILN_BIN, "--url", running.server.url, "runtime:predict", fitted, "lin-x", "--require", "gpu"]);
    let said = "";
    const ended = new Promise<number | null>((resolve) => waiting.on("close", resolve));
    const hint = await new Promise<string>((resolve, reject) => {
      waiting.stderr.on("data", (d: Buffer) => {
        said += d.toString();
        const m = /^kiln: no executor has the label gpu: job (\w+) waits in the queue until one starts \(kiln jobs:cancel \1 drops it\)$/m.exec(said);
        if (m) resolve(m[1]!);
      });
      void ended.then((code) => reject(new Error(`runtime:predict exited (${code}) first: ${said}`)));
    });
    expect(await kiln("jobs:cancel", hint)).toBe(`cancelled ${hint}\n`);
    expect(await ended).toBe(1);
    expect(said.match(/no executor has/g)).toHaveLength(1);
  });

  it("stops quietly with exit 0 when its reader goes away (runtime:predict ... | head)", async () => {
    const n = 300_000;
    await sdk.datasets.put("many-x", tableFromArrays({ a: Float64Array.from({ length: n }, (_, i) => i), b: new Float64Array(n) }));
    const predict = spawn(process.execPath, [KILN_BIN, "--url", running.server.url, "runtime:predict", fitted, "many-x"]);
    let err = "";
    predict.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => predict.on("close", resolve));
    await new Promise<void>((resolve) => predict.stdout.once("data", () => resolve()));
    predict.stdout.destroy(); // like head after its lines
    expect(await exited).toBe(0);
    expect(err).not.toMatch(/EPIPE|Error/);
  });

  it("deletes jobs that are over (jobs:delete) and purges them by end time, asking first (jobs:purge)", async () => {
    const model = unique("purged");
    await sdk.models.create(model, { estimator: "linear_regression" });
    const fits: string[] = [];
    for (let i = 0; i < 3; i++) {
      const handle = await sdk.runtime.model(model).fit("lin-x", "lin-y");
      await handle.get();
      fits.push(handle.id);
    }
    // No executor has the label "gpu": the job stays queued.
    const queued = (await kiln("runtime:predict", model, "lin-x", "--require", "gpu", "--no-wait")).trim();
    expect((await kilnFails("jobs:delete", queued)).stderr).toMatch(new RegExp(`job projects/default/jobs/${queued} is queued: only a job that is over can be deleted; cancel it first`));

    expect(await kiln("jobs:delete", fits[0]!)).toBe(`deleted ${fits[0]}\n`);
    expect((await kilnFails("jobs:show", fits[0]!)).stderr).toMatch(/does not exist/);
    expect((await sdk.models.get(`${model}:2`)).version).toBe(2); // what the job made stays

    const dry = await kiln("jobs:purge", "--ended-before", "0s", "--model", model, "--dry-run");
    expect(dry).toMatch(new RegExp(`^2 jobs ended before \\d{4}-\\S+Z \\(${fits[1]}, ${fits[2]}\\)\n$`));
    expect((await kilnFails("jobs:purge", "--ended-before", "0s", "--model", model)).stderr).toMatch(/pass --yes to delete them, or --dry-run to count them/);
    expect(await kiln("jobs:purge", "--ended-before", "0s", "--model", model, "--yes")).toMatch(/^deleted 2 jobs that ended before \d{4}-\S+Z\n$/);
    expect((await sdk.runtime.jobs({ model })).map((j) => j.id)).toEqual([queued]);

    await sdk.runtime.job(queued).cancel();
    const json = JSON.parse(await kiln("--json", "jobs:purge", "--ended-before", new Date(Date.now() + 1000).toISOString(), "--model", model, "--state", "cancelled", "--yes"));
    expect(json).toEqual({ count: 1, sample: [queued], deleted: true });
    // Nothing to delete: no question asked.
    expect(await kiln("jobs:purge", "--ended-before", "1h", "--model", model)).toMatch(/^0 jobs ended before \d{4}-\S+Z\n$/);

    expect((await kilnFails("jobs:purge", "--ended-before", "0s", "--state", "queued")).stderr).toMatch(/--state must be one of succeeded, failed, cancelled: only jobs that are over are deleted/);
    expect((await kilnFails("jobs:purge", "--ended-before", "last week")).stderr).toMatch(/--ended-before takes an age \("30d", "12h", "90m", "2w"\) or a time/);
    expect((await kilnFails("jobs:purge", "--model", model)).stderr).toMatch(/required option '--ended-before <when>' not specified/);
  });

  it("lists the embedded executor", async () => {
    const table = (await kiln("executors")).trim().split("\n");
    expect(table[0]).toMatch(/^ID\s+HOST\s+LABELS\s+SLOTS\s+RUNNING\s+SERVING\s+HEARTBEAT$/);
    expect(table).toHaveLength(2);
    expect(table[1]).toMatch(/^\S+\s+\S+\s+.*\d+\s+\d+.*\s+\d{4}-\S+Z$/);
    const json = JSON.parse(await kiln("--json", "executors")) as { slots: number }[];
    expect(json).toHaveLength(1);
    expect(json[0]!.slots).toBeGreaterThan(0);
  });

  it("partial fits with --partial, a new version each time; a classifier's first batch takes --param classes=[...]", async () => {
    const model = unique("sgdr");
    await kiln("models:create", model, "--estimator", "sgd_regressor");
    expect(await kiln("runtime:fit", model, "lin-x", "lin-y", "--partial")).toMatch(new RegExp(`^${model}: version 2, fitted by job \\w+\\n`));
    expect(await kiln("runtime:fit", model, "lin-x", "lin-y", "--partial")).toMatch(new RegExp(`^${model}: version 3, fitted by job \\w+\\n`));

    await sdk.datasets.put("signs", rows.map(({ y }) => ({ sign: y > 10 ? 1 : 0 })));
    const clf = unique("sgdc");
    await kiln("models:create", clf, "--estimator", "sgd_classifier");
    expect((await kilnFails("runtime:fit", clf, "lin-x", "signs", "--partial")).stderr).toMatch(/needs every class y will ever have: pass them as params\.classes.*\(CLASSES_REQUIRED\)/);
    expect(await kiln("runtime:fit", clf, "lin-x", "signs", "--partial", "--param", "classes=[0,1]")).toMatch(new RegExp(`^${clf}: version 2, fitted by job`));
  });

  it("takes local files as X and Y (paths with a /), sent as temporary datasets that are gone after the job", async () => {
    const csv = (cols: (keyof (typeof rows)[number])[]) => [cols.join(","), ...rows.map((r) => cols.map((c) => r[c]).join(","))].join("\n") + "\n";
    await writeFile(join(dir, "x.csv"), csv(["b", "a"])); // the model's features, in another order: matched by name
    await writeFile(join(dir, "y.csv"), csv(["y"]));
    await writeFile(join(dir, "all.csv"), csv(["a", "b", "y"]));
    const before = (await sdk.datasets.list()).length;

    const predicted = (await kiln("runtime:predict", fitted, join(dir, "x.csv"))).trim().split("\n");
    expect(predicted).toHaveLength(51);
    expect(Number(predicted[11])).toBeCloseTo(rows[10]!.y, 6);
    expect(await kiln("runtime:score", fitted, join(dir, "x.csv"), join(dir, "y.csv"))).toMatch(/^r2:\s+1\n/);

    // Features and target from one file: the target is left out of the features.
    const model = unique("from-file");
    await sdk.models.create(model, { estimator: "linear_regression" });
    expect(await kiln("runtime:fit", model, join(dir, "all.csv"), "--target", "y")).toMatch(/training_score: 1\n$/);
    expect((await sdk.models.get(`${model}:2`)).metadata).toMatchObject({ features: ["a", "b"], target: "y" });
    await kiln("runtime:fit", model, join(dir, "all.csv"), "--target", "y", "--columns", "a");
    expect((await sdk.models.get(`${model}:3`)).metadata).toMatchObject({ features: ["a"], target: "y" });
    expect(await kiln("runtime:score", `${model}:2`, join(dir, "all.csv"), "--target", "y")).toMatch(/^r2:\s+1\n/);

    await expect.poll(async () => (await sdk.datasets.list()).length, { timeout: 5000 }).toBe(before);
    expect((await kilnFails("runtime:predict", fitted, join(dir, "missing.csv"))).stderr).toMatch(/missing\.csv: no such file/);
    expect((await kilnFails("runtime:predict", "no-such-model", join(dir, "x.csv"))).stderr).toMatch(/MODEL_NOT_FOUND/); // checked before the file is sent
    expect((await kilnFails("runtime:predict", fitted, join(dir, "x.csv"), "--columns", "a,zz")).stderr).toMatch(/x\.csv has no column "zz" \(columns: b, a\)/);
    expect((await kilnFails("runtime:predict", fitted, join(dir, "x.txt"))).stderr).toMatch(/read as CSV, TSV, JSON, NDJSON, Arrow or Parquet/);
  });

  it("profiles tables and measures drift: datasets:profile, datasets:drift and models:drift (--fail-on-drift exits 1)", async () => {
    const profile = await kiln("datasets:profile", "lin@1", "--columns", "a,b");
    expect(profile).toMatch(/^lin@1: 50 rows\n/);
    expect(profile).toMatch(/^COLUMN\s+TYPE\s+PRESENT\s+MISSING\s+DISTINCT\s+MIN\s+MEDIAN\s+MEAN\s+MAX\s+STD/m);
    expect(profile).toMatch(/^a\s+Float64\s+50\s+0\s+50\s+0\s+12\.25\s+12\.25\s+24\.5\s+7\.215/m);
    const json = JSON.parse(await kiln("--json", "datasets:profile", "lin", "--filter", "a < 5")) as { rows: number; columns: { name: string; count: number }[] };
    expect(json.rows).toBe(10);
    expect(json.columns.map((c) => c.name)).toEqual(["a", "b", "y"]);

    const later = unique("lin-later");
    await sdk.datasets.put(later, rows.map(({ a, b }) => ({ a: a + 20, b })));
    const calm = await kiln("datasets:drift", "lin-x", "lin-x", "--columns", "a,b");
    expect(calm).toMatch(/^lin-x@1 \(50 rows\) → lin-x@1 \(50 rows\)\n/);
    expect(calm).toMatch(/no drift in 2 columns\n$/);
    const moved = await kilnFails("datasets:drift", "lin-x", later, "--fail-on-drift");
    expect(moved.code).toBe(1);
    expect(moved.stdout).toMatch(/^a\s+numeric\s+[\d.]+\s+ks\s+0\.8\s+<0\.0001\s+\+2\.77\d*\s+yes/m);
    expect(moved.stdout).toMatch(/^b\s+numeric\s+0\s+ks\s+0\s+1\s+0\s*$/m);
    expect(moved.stdout).toMatch(/1 of 2 columns drifted: a\n$/);

    const model = await kiln("models:drift", fitted, later);
    expect(model).toMatch(new RegExp(`^${fitted}:2 trained on lin-x@1 \\(50 rows\\) → ${later}@1 \\(50 rows\\)\\n`));
    expect(model).toMatch(/1 of 2 columns drifted: a\n$/);
    const report = JSON.parse(await kiln("--json", "models:drift", fitted, "lin", "--psi-threshold", "0.5")) as { drifted: boolean; columns: { column: string }[]; modelVersion: string };
    expect(report).toMatchObject({ drifted: false, modelVersion: `projects/default/models/${fitted}/versions/2` });
    expect(report.columns.map((c) => c.column)).toEqual(["a", "b"]);
    // Each check logged as a run of an experiment: its runs table is the drift's history.
    const watch = unique("drift-watch");
    await kiln("models:drift", fitted, later, "--experiment", watch);
    await kiln("models:drift", fitted, "lin", "--experiment", watch);
    const logged = await sdk.experiment(watch).data({ run: "all", filter: 'event = "metric" OR event = "param"' });
    const value = (run: number, key: string) => logged.find((e) => e.run === run && e.key === key)?.value;
    expect([value(1, "drift.drifted"), value(2, "drift.drifted")]).toEqual([1, 0]);
    expect(value(1, "drift.psi.a")).toBeGreaterThan(0.2);
    expect(value(1, "drift.p_value.b")).toBe(1);
    expect(value(1, "drift.drifted_columns")).toBe(1);
    expect(value(1, "drift.baseline")).toBe("lin-x@1");
    expect(value(2, "drift.target")).toBe("lin@1");
    expect(value(2, "drift.model_version")).toBe(`projects/default/models/${fitted}/versions/2`);
    expect(await sdk.experiment(watch).artifact("drift.json", { run: 1 })).toMatchObject({ rows: { baseline: 50, target: 50 }, missingColumns: [] });

    // The same check as a job: kept, shown by jobs:show, and a failed job with --fail-on-drift.
    const asJob = await kiln("runtime:drift", fitted, later);
    expect(asJob).toMatch(new RegExp(`^${fitted}:2 trained on lin-x@1 \\(50 rows\\) → ${later}@1 \\(50 rows\\)\\n`));
    expect(asJob).toMatch(/^a\s+numeric\s+[\d.]+\s+ks\s+0\.8\s+<0\.0001\s+\+2\.77\d*\s+yes/m);
    expect(asJob).toMatch(/1 of 2 columns drifted: a\n$/);
    const [driftJob] = await sdk.runtime.jobs({ limit: 1 });
    expect(driftJob).toMatchObject({ kind: "drift", state: "succeeded" });
    const shownJob = await kiln("jobs:show", driftJob!.id);
    expect(shownJob).toMatch(/^kind:\s+drift$/m);
    expect(shownJob).toMatch(new RegExp(`^trained on lin-x@1 \\(50 rows\\) → ${later}@1 \\(50 rows\\)\\n`, "m"));
    expect(shownJob).not.toMatch(/^metrics:/m);
    expect(await kiln("jobs", "--limit", "1")).toMatch(/drift in 1 of 2 features: a/);
    const failed = await kilnFails("runtime:drift", fitted, later, "--fail-on-drift");
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/drift in 1 of 2 features of projects\/default\/models\/\S+: a \(PSI [\d.]+, ks p [\d.e-]+\).*DATA_DRIFT/);
    const calmJson = JSON.parse(await kiln("--json", "runtime:drift", fitted, "lin", "--psi-threshold", "0.5")) as { drifted: boolean; modelVersion: string; columns: { column: string }[] };
    expect(calmJson).toMatchObject({ drifted: false, modelVersion: `projects/default/models/${fitted}/versions/2` });

    const untrained = await kilnFails("models:drift", `${fitted}:1`, "lin");
    expect(untrained.stderr).toMatch(/records no stored training data.*\(NO_TRAINING_DATA\)/);
    expect((await kilnFails("datasets:drift", "lin", "lin", "--p-value-threshold", "2")).stderr).toMatch(/--p-value-threshold.*between 0 and 1/);
  });

  it("schedules a job on a cron: schedules:create, schedules, schedules:show, pause, resume and delete", async () => {
    const id = unique("every-second");
    const out = unique("scheduled-out");
    const created = await kiln("schedules:create", id, "predict", fitted, "lin-x", "--cron", "* * * * * *", "--output", out);
    expect(created).toMatch(new RegExp(`^schedule ${id}: predict ${fitted}:latest on lin-x at \\* \\* \\* \\* \\* \\* \\(UTC\\), next \\S+Z\\n$`));
    const until = async (check: () => Promise<boolean>) => {
      const deadline = Date.now() + 15_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error("timed out");
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(async () => (await sdk.schedules.get(id)).runCount >= 2);
    const shown = await kiln("schedules:show", id);
    expect(shown).toMatch(/^cron:\s+\* \* \* \* \* \* \(UTC\)$/m);
    expect(shown).toMatch(new RegExp(`^job:\\s+predict ${fitted}:latest on lin-x$`, "m"));
    expect(shown).toMatch(/^last:\s+\S+Z: job \w+$/m);
    expect(shown).toMatch(/^JOB\s+STATE\s+SUBMITTED\s+ENDED\s+RESULT\n\w+\s+(queued|running|succeeded)\s+\S+Z/m);
    expect(await kiln("schedules")).toMatch(new RegExp(`^${id}\\s+\\* \\* \\* \\* \\* \\*\\s+predict ${fitted}:latest on lin-x\\s+\\S+Z\\s+\\S+Z\\s+\\d+\\s+\\w+$`, "m"));

    expect(await kiln("schedules:pause", id)).toBe(`schedule ${id} paused\n`);
    const { runCount, lastJob } = await sdk.schedules.get(id);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await sdk.schedules.get(id)).runCount).toBe(runCount);
    // Its jobs ran as runtime:predict does: their rows went to the output dataset.
    await sdk.runtime.job(lastJob).wait();
    expect((await sdk.datasets.info(out)).latest!.rowCount).toBeGreaterThanOrEqual(2 * rows.length);
    expect(await kiln("schedules:resume", id)).toMatch(new RegExp(`^schedule ${id} resumed: next \\S+Z\\n$`));
    expect(await kiln("schedules:delete", id)).toBe(`deleted schedule ${id}\n`);
    expect((await sdk.schedules.list()).map((x) => x.id)).not.toContain(id);
    await sdk.runtime.job(lastJob).info(); // its jobs stay

    expect((await kilnFails("schedules:create", "x", "predict", fitted, "./lin.csv", "--cron", "* * * * *")).stderr).toMatch(/a schedule reads stored datasets/);
    expect((await kilnFails("schedules:create", "x", "predict", fitted, "lin-x", "--cron", "99 * * * *")).stderr).toMatch(/\(INVALID_CRON\)/);
    expect((await kilnFails("schedules:create", "x", "noop", fitted, "lin-x", "--cron", "* * * * *")).stderr).toMatch(/kind is one of fit, partial_fit/);
    expect((await kilnFails("schedules:create", "x", "predict", fitted, "lin-x", "--cron", "* * * * *", "--fail-on-drift")).stderr).toMatch(/are a drift job's/);
  });

  it("schedules a drift check on the day's data by a date template, its failure an alert to a webhook: jobs --schedule, schedules:show, webhooks:*", async () => {
    const id = unique("daily-drift");
    const log = unique("requests");
    const today = new Date().toISOString().slice(0, 10);
    await sdk.datasets.put(`${log}-${today}`, rows.map(({ a, b }) => ({ a: a + 20, b })));
    const alerts = await startHttpReceiver();
    const hook = unique("alerts");
    const signed = cli(() => running.server.url, undefined, () => ({ ...process.env, ALERT_SECRET: "s3cret" }));
    expect(await signed.kiln("webhooks:create", hook, alerts.url, "--event", "job.failed", "--secret-env", "ALERT_SECRET")).toBe(`webhook ${hook}: job.failed → ${alerts.url} (signed)\n`);
    expect(await kiln("webhooks:test", hook)).toBe("delivered: HTTP 204\n");
    const created = await kiln("schedules:create", id, "drift", fitted, `${log}-{{date}}`, "--cron", "* * * * * *", "--fail-on-drift", "--catch-up");
    expect(created).toMatch(new RegExp(`^schedule ${id}: drift ${fitted}:latest on ${log}-\\{\\{date\\}\\} at `));
    const deadline = Date.now() + 15_000;
    while ((await sdk.runtime.jobs({ schedule: id, states: ["failed"] })).length === 0) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 100));
    }
    await kiln("schedules:pause", id);
    // The last few seconds again: times it ran give the jobs they made, the others new ones.
    const before = (await sdk.runtime.jobs({ schedule: id })).length;
    const backfilled = await kiln("--json", "schedules:backfill", id, "--from", "4s");
    const runs = JSON.parse(backfilled) as { time: string; job: string; error: string }[];
    expect(runs.length).toBeGreaterThanOrEqual(4);
    expect(runs.every((r) => r.job && !r.error)).toBe(true);
    expect((await sdk.runtime.jobs({ schedule: id })).length).toBeLessThanOrEqual(before + runs.length);
    expect(new Set(runs.map((r) => r.job)).size).toBe(runs.length);
    expect((await kilnFails("schedules:backfill", id, "--from", "2026-01-01")).stderr).toMatch(/\(TOO_MANY_TIMES\)/);
    const listed = await kiln("jobs", "--schedule", id);
    expect(listed).toMatch(/drift\s+\S+:2\s+failed\s+1\s+\S+\s+drift in 1 of 2 features of/);
    const [first] = await sdk.runtime.jobs({ schedule: id, states: ["failed"] });
    expect(first!.x!.dataset).toBe(`projects/default/datasets/${log}-${today}`);
    expect(await kiln("jobs:show", first!.id)).toMatch(new RegExp(`^schedule:\\s+${id}$`, "m"));
    expect(await kiln("schedules:show", id)).toMatch(/^missed times:\s+made up \(catch up\)$/m);
    expect(await kiln("schedules:show", id)).toMatch(/^JOB\s+STATE\s+SUBMITTED\s+ENDED\s+RESULT\n(.*\n)*\w+\s+failed\s+\S+Z\s+\S+Z\s+drift in 1 of 2 features of /m);
    await kiln("schedules:delete", id);

    // The failed check reached the webhook: the job, its schedule and why.
    for (let i = 0; !alerts.received.some((r) => r.headers["kiln-event"] === "job.failed"); i++) {
      if (i > 200) throw new Error("no alert came");
      await new Promise((r) => setTimeout(r, 50));
    }
    const alert = alerts.received.find((r) => r.headers["kiln-event"] === "job.failed")!;
    const body = JSON.parse(alert.body) as { event: string; resource: string; data: { job: { schedule: string; error: { reason: string; message: string } } } };
    expect((await sdk.runtime.jobs({ schedule: id })).map((j) => j.name)).toContain(body.resource);
    expect(body).toMatchObject({ event: "job.failed", data: { job: { schedule: `projects/default/schedules/${id}`, error: { reason: "DATA_DRIFT" } } } });
    expect(alert.headers["kiln-signature"]).toBe(`sha256=${createHmac("sha256", "s3cret").update(alert.body).digest("hex")}`);
    expect(await kiln("webhooks")).toMatch(new RegExp(`^${hook}\\s+http://\\S+\\s+job\\.failed\\s+active\\s+[1-9]\\d*\\s+0\\s+\\S+Z: HTTP 204$`, "m"));
    expect(await kiln("webhooks:show", hook)).toMatch(/^signed:\s+yes$/m);
    expect(await kiln("webhooks:deliveries", hook)).toMatch(/^ENDED\s+EVENT\s+RESOURCE\s+ATTEMPTS\s+RESULT\s+ID\n\S+Z\s+job\.failed\s+\w+\s+1\s+HTTP 204\s+evt-[0-9a-f]{32}$/m);
    expect(await kiln("webhooks:pause", hook)).toBe(`webhook ${hook} paused\n`);
    const [kept] = await sdk.webhooks.deliveries(hook, { limit: 1 });
    expect(await kiln("webhooks:redeliver", hook, kept!.id)).toBe("delivered: HTTP 204\n");
    expect(alerts.received.at(-1)!.headers["kiln-delivery"]).toBe(kept!.id);
    await alerts.close();
    const down = await kilnFails("webhooks:test", hook);
    expect([down.code, down.stdout]).toEqual([1, "not delivered: ECONNREFUSED\n"]);
    expect((await kilnFails("webhooks:redeliver", hook, kept!.id)).code).toBe(1);
    expect((await kilnFails("webhooks:create", unique("x"), "ftp://x", "--event", "job.failed")).stderr).toMatch(/\(INVALID_URL\)/);
    expect((await kilnFails("webhooks:create", unique("x"), alerts.url, "--event", "job.exploded")).stderr).toMatch(/\(INVALID_EVENTS\)/);
    expect(await kiln("webhooks:delete", hook)).toBe(`deleted webhook ${hook}\n`);
  });

  it("fails with exit 1 and a clear message on bad input", async () => {
    const unknown = await kilnFails("runtime:fit", "no-such-model", "lin-x", "lin-y");
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/not found.*MODEL_NOT_FOUND/i);
    const noData = await kilnFails("runtime:predict", fitted, "no-such-data");
    expect(noData.stderr).toMatch(/DATASET_NOT_FOUND/);
    // No server at the URL: said so, with what to do (the last --url wins).
    const away = await kilnFails("--url", "http://127.0.0.1:9", "jobs");
    expect(away.stderr).toMatch(/ECONNREFUSED[^]*is Kiln running at http:\/\/127\.0\.0\.1:9\? Start it with npm start, or point --url or KILN_URL at it/);
    expect((await kilnFails("runtime:score", fitted, "lin-x")).stderr).toMatch(/job\.y is required for SCORE.*INPUT_REQUIRED/); // only a clusterer scores without y
    const noJob = await kilnFails("jobs:show", "nosuchjob0000");
    expect(noJob.code).toBe(1);
    expect(noJob.stderr).toMatch(/does not exist \(JOB_NOT_FOUND\)/);
    const badState = await kilnFails("jobs", "--state", "done");
    expect(badState.stderr).toMatch(/--state must be one of queued, running/);
    // A job that fails on the executor: the model knows a and b, this data has only y.
    const failed = await kilnFails("runtime:predict", fitted, "lin-y", "-o", join(dir, "never.csv"));
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/column "a" is not in the data.*COLUMN_MISSING/);
    await expect(readFile(join(dir, "never.csv"))).rejects.toThrow(/ENOENT/);
  });
});
