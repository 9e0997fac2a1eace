import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Table } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { FailedPreconditionError, InvalidArgumentError, Kiln } from "@kiln/sdk";
import { f1Score, logLoss, precisionScore, rocAucScore } from "@kiln/sdk/ml";
import { runEmbedded } from "../src/index.js";
import { unique } from "./helpers.js";

/** Two overlapping blobs: class 1 mostly when x0 + x1 > 0. */
function blobs(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({ x0: Math.sin(i * 12.9898) * 2, x1: Math.cos(i * 78.233) * 2 }));
  return { X: rows, y: rows.map(({ x0, x1 }, i) => ({ label: x0 + x1 + Math.sin(i) * 1.5 > 0 ? 1 : 0 })) };
}

describe("SCORE jobs with the metrics asked for (sklearn's scorer names, MLflow evaluate's set)", () => {
  let dir: string;
  let running: RunningProcess;
  let kiln: Kiln;
  const data = blobs(400);
  const truth = data.y.map((r) => r.label);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-score-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    kiln = await Kiln.connect(running.server.url);
    await kiln.datasets.put("score-x", data.X);
    await kiln.datasets.put("score-y", data.y);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("scores a classifier on every metric, roc_auc and log_loss from its probabilities, as computed here from its predictions", async () => {
    const model = unique("scored");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    await (await kiln.runtime.model(model).fit("score-x", "score-y")).get();
    const metrics = await (await kiln.runtime.model(model).score("score-x", "score-y", { metrics: "all" })).get();
    expect(Object.keys(metrics)).toEqual(["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]);

    const predicted = Array.from(((await (await kiln.runtime.model(model).predict("score-x")).get()) as Table).getChild("prediction")!.toArray() as ArrayLike<bigint | number>, Number);
    const proba = (await (await kiln.runtime.model(model).predictProba("score-x")).get()) as Table;
    const p1 = Array.from(proba.getChild("probability_1")!.toArray() as Float32Array);
    expect(metrics.f1).toBeCloseTo(f1Score(truth, predicted), 12);
    expect(metrics.precision).toBeCloseTo(precisionScore(truth, predicted), 12);
    expect(metrics.roc_auc).toBeCloseTo(rocAucScore(truth, p1), 12);
    expect(metrics.log_loss).toBeCloseTo(logLoss(truth, p1), 6);
    expect(metrics.roc_auc).toBeGreaterThan(0.8);

    expect(await (await kiln.runtime.model(model).score("score-x", "score-y", { metrics: ["f1_macro", "roc_auc"] })).get()).toEqual({ f1_macro: expect.any(Number), roc_auc: metrics.roc_auc });
    expect(await (await kiln.runtime.model(model).score("score-x", "score-y")).get()).toEqual({ accuracy: metrics.accuracy }); // the default
    await expect((await kiln.runtime.model(model).score("score-x", "score-y", { metrics: ["rmse"] })).get()).rejects.toMatchObject({ constructor: FailedPreconditionError, reason: "METRIC_NOT_DEFINED" });
  });

  it("scores a regressor on RMSE, max error and MAPE; refuses a metric it does not know at submit", async () => {
    const model = unique("scored-lin");
    await kiln.models.create(model, { estimator: "linear_regression" });
    const y = data.X.map(({ x0, x1 }) => ({ y: 2 * x0 - x1 + 10 + Math.sin(x0 * 7) }));
    await kiln.datasets.put("score-lin-y", y);
    await (await kiln.runtime.model(model).fit("score-x", "score-lin-y")).get();
    const all = await (await kiln.runtime.model(model).score("score-x", "score-lin-y", { metrics: "all" })).get();
    expect(Object.keys(all)).toEqual(["r2", "mse", "rmse", "mae", "max_error", "mape"]);
    expect(all.rmse).toBeCloseTo(Math.sqrt(all.mse!), 12);
    expect(all.max_error).toBeGreaterThanOrEqual(all.mae!);
    expect(all.mape).toBeGreaterThan(0);

    const before = (await kiln.runtime.jobs()).length;
    await expect(kiln.runtime.model(model).score("score-x", "score-lin-y", { metrics: ["auc"] })).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_PARAMS", message: expect.stringContaining('"auc" is not a metric') });
    await expect(kiln.runtime.model(model).score("score-x", "score-lin-y", { metrics: [] })).rejects.toMatchObject({ reason: "INVALID_PARAMS" });
    await expect(kiln.runtime.model(model).score("score-x", "score-lin-y", { metrics: ["mse", "mse"] })).rejects.toMatchObject({ reason: "INVALID_PARAMS", message: "params.metrics names a metric twice" });
    expect(await kiln.runtime.jobs()).toHaveLength(before);
  });

  it("grid-searches by any of them: each score is asked for the metric ranked by", async () => {
    const model = unique("grid-scored");
    await kiln.models.create(model, { estimator: "logistic_regression" });
    const search = await kiln.runtime.model(model).gridSearch("score-x", "score-y", { grid: { C: [0.001, 1] }, metric: "log_loss" });
    expect(search).toMatchObject({ metric: "log_loss", lowerIsBetter: true });
    const [first, second] = search.candidates;
    expect(Object.keys(first!.metrics!)).toEqual(["log_loss"]);
    const best = first!.metrics!.log_loss! < second!.metrics!.log_loss! ? first! : second!;
    expect(search.best.modelVersion).toBe(best.modelVersion);
  });
});
