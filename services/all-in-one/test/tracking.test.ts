import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { RunningProcess } from "@kiln/core";
import { float64Bytes } from "@kiln/proto";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { InvalidArgumentError, Kiln, NotFoundError, ResourceExhaustedError, type EventRow } from "@kiln/sdk";
import { SGDRegressor } from "@kiln/sdk/ml";
import { runEmbedded } from "../src/index.js";
import { unique } from "./helpers.js";

const COLUMNS = ["experiment", "run", "event", "dt", "node", "step", "key", "value"];

describe("experiment tracking against a real server (omega-ml's examples)", () => {
  let dir: string;
  let running: RunningProcess;
  let kiln: Kiln;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    kiln = await Kiln.connect(running.server.url);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("a run with a metric, a param and an artifact gives rows in the documented columns", async () => {
    const exp = kiln.experiment(unique("myexp"));
    await exp.run(async (run) => {
      run.logParam("C", 0.1);
      run.logMetric("accuracy", 0.93);
      await run.logArtifact(new TextEncoder().encode("fold,score\n1,0.9\n"), "scores.csv", { mediaType: "text/csv" });
      await run.logArtifact({ layers: [4, 2] }, "architecture");
    });
    const rows = await exp.data();
    expect(Object.keys(rows[0]!)).toEqual(COLUMNS);
    expect(rows.map((r) => r.event)).toEqual(["start", "system", "param", "metric", "artifact", "artifact", "stop"]);
    expect(rows.find((r) => r.event === "metric")).toMatchObject({ run: 1, key: "accuracy", value: 0.93, step: 0, experiment: exp.name });
    expect(rows.find((r) => r.event === "param")).toMatchObject({ key: "C", value: 0.1 });
    const file = rows.find((r) => r.key === "scores.csv")!.value as { kind: string; ref: string; size: number };
    expect(file).toMatchObject({ kind: "file", size: 17 });
    const body = await fetch(new URL(`/kiln/tracking/v1/artifacts/${file.ref}`, running.server.url));
    expect(await body.text()).toBe("fold,score\n1,0.9\n");
    expect(rows.find((r) => r.key === "architecture")!.value).toMatchObject({ kind: "json", ref: '{"layers":[4,2]}' });
    expect(rows.at(-1)!.value).toMatchObject({ status: "finished" });
    expect((await exp.runs())[0]).toMatchObject({ run: 1, status: "finished" });
    // Read back as logged: a file's bytes, a JSON value.
    expect(new TextDecoder().decode((await exp.artifact("scores.csv")) as Uint8Array)).toBe("fold,score\n1,0.9\n");
    expect(await exp.artifact("architecture", { run: 1 })).toEqual({ layers: [4, 2] });
    await expect(exp.artifact("weights")).rejects.toMatchObject({ reason: "ARTIFACT_NOT_FOUND", message: `the latest run of ${exp.name} logged no artifact "weights"` });
  });

  it("logs files of any size as artifacts (in 4 MiB chunks, beyond the server's message limit) and reads them back whole", async () => {
    const exp = kiln.experiment(unique("big-artifact"));
    const weights = randomBytes(20 * 1024 * 1024 + 3); // more than KILN_MAX_MESSAGE_BYTES (16 MiB)
    await exp.run((run) => run.logArtifact(weights, "weights.bin"));
    const [row] = await exp.data({ event: "artifact" });
    const ref = row!.value as { ref: string; size: number; chunks: { sha256: string; size: number }[] };
    expect(ref).toMatchObject({ ref: createHash("sha256").update(weights).digest("hex"), size: weights.length });
    expect(ref.chunks.map((c) => c.size)).toEqual([...Array(5).fill(4 * 1024 * 1024), 3]);
    expect(Buffer.from((await exp.artifact("weights.bin")) as Uint8Array).equals(weights)).toBe(true);
  });

  it("lists and summarizes every run past a page of 1,000 (runs:compare and the drop's question read them)", async () => {
    const parent = `projects/default/experiments/${unique("many-runs")}`;
    const client = createClient(TrackingService, createGrpcTransport({ baseUrl: running.server.url }));
    await client.startRun({ parent, createExperiment: true });
    for (let i = 1; i < 1001; i += 100) await Promise.all(Array.from({ length: 100 }, () => client.startRun({ parent })));
    const exp = kiln.experiment(parent.split("/").at(-1)!);
    const runs = await exp.runs();
    expect(runs.map((r) => r.run)).toEqual(Array.from({ length: 1001 }, (_, i) => 1001 - i));
    // summary() reads SummarizeRuns' pages of 1,000: the 1,001st run is on the second.
    expect((await exp.summary()).map((r) => r.run)).toEqual(Array.from({ length: 1001 }, (_, i) => i + 1));
    expect((await exp.summary({ from: 990, to: 1001 })).map((r) => r.run)).toEqual(Array.from({ length: 12 }, (_, i) => 990 + i));
  });

  it("three runs, then all runs with a key filter; lists, ranges and AND/OR filters", async () => {
    const exp = kiln.experiment(unique("three"));
    for (let i = 1; i <= 3; i++) {
      await exp.run((run) => {
        run.logMetric("loss", 1 / i);
        run.logMetric("acc", i / 10);
      });
    }
    const loss = await exp.data({ run: "all", key: "loss" });
    expect(loss.map((r) => [r.run, r.value])).toEqual([[1, 1], [2, 0.5], [3, 1 / 3]]);
    expect((await exp.data({ key: "acc" })).map((r) => r.run)).toEqual([3]); // latest by default
    expect((await exp.data({ run: [1, 3], key: "acc" })).map((r) => r.run)).toEqual([1, 3]);
    expect((await exp.data({ run: { from: 2, to: 3 }, event: "metric" })).length).toBe(4);
    const either = await exp.data({ run: "all", filter: 'key = "acc" AND value >= 0.2 OR key = "loss" AND run = 1' });
    expect(either.map((r) => [r.run, r.key])).toEqual([[1, "loss"], [2, "acc"], [3, "acc"]]);
    const summary = await exp.summary();
    expect(summary.map((s) => s.metrics.acc!.last)).toEqual([0.1, 0.2, 0.3]);
    // Runs by a list or a range are read by their keys: each once, in number order.
    expect((await exp.summary([3, 1, 3])).map((s) => [s.run, s.metrics.loss!.last])).toEqual([[1, 1], [3, 1 / 3]]);
    expect((await exp.summary({ from: 2, to: 6 })).map((s) => s.run)).toEqual([2, 3]);
    expect((await exp.summary("latest")).map((s) => s.run)).toEqual([3]);
    // A run past the latest is not found, rather than an empty answer; runs count from 1.
    await expect(exp.data({ run: [1, 9] })).rejects.toMatchObject({ reason: "RUN_NOT_FOUND", message: "no run 9: the experiment has runs 1 to 3" });
    await expect(exp.data({ run: { from: 4, to: 6 } })).rejects.toBeInstanceOf(NotFoundError);
    expect((await exp.data({ run: { from: 3, to: 6 }, key: "acc" })).map((r) => r.run)).toEqual([3]); // a range may reach past it
    await expect(exp.summary([0])).rejects.toMatchObject({ reason: "INVALID_RUNS" });
  });

  it("searches runs by MLflow's filter and order: the best of a sweep, with their summaries, in pages bound to their filter", async () => {
    const name = unique("sweep");
    const exp = kiln.experiment(name);
    // Twelve runs: C from 1 to 12, acc peaking at C = 7 (two runs tie on 0.8), run 12 logs no acc.
    const accOf = (c: number) => (c === 12 ? undefined : c === 3 ? 0.8 : 1 - Math.abs(c - 7) / 10);
    for (let c = 1; c <= 12; c++) {
      await exp.run(
        (run) => {
          run.logParam("C", c);
          run.logParam("solver", c % 2 ? "lbfgs" : "saga");
          const acc = accOf(c);
          if (acc === undefined) return run.logMetric("loss", 1);
          run.logMetric("acc", 0.1, { step: 0 });
          run.logMetric("acc", acc, { step: 1 });
        },
        { team: c <= 6 ? "a" : "b" },
      );
    }
    const best = await exp.search({ orderBy: ["metrics.acc DESC"], limit: 4 });
    expect(best.map((r) => [r.run, r.metrics.acc!.last])).toEqual([[7, 1], [8, 0.9], [6, 0.9], [9, 0.8]]);
    expect(best[0]).toMatchObject({ status: "finished", tags: { team: "b" }, params: { C: 7, solver: "lbfgs" }, metrics: { acc: { last: 1, min: 0.1, max: 1, count: 2 } } });
    expect(best[0]!.startTime).toBeInstanceOf(Date);
    // Ties go to the later run (MLflow's newest first breaks them); a run without the metric comes last.
    expect((await exp.search({ orderBy: ["metrics.acc ASC"] })).map((r) => r.run)).toEqual([1, 2, 11, 10, 4, 9, 5, 3, 8, 6, 7, 12]);
    expect((await exp.search({ filter: "metrics.acc >= 0.8 AND params.solver = 'saga' AND tags.team = 'b'", orderBy: ["params.C"] })).map((r) => r.run)).toEqual([8]);
    expect((await exp.search({ limit: 3 })).map((r) => r.run)).toEqual([12, 11, 10]); // newest first by default
    expect(await exp.search({ filter: "metrics.acc > 2" })).toEqual([]);

    // The RPC in pages: each goes on where the last stopped; a token is bound to its filter and order.
    const client = createClient(TrackingService, createGrpcTransport({ baseUrl: running.server.url }));
    const parent = exp.name;
    const pages: number[][] = [];
    let pageToken = "";
    do {
      const res = await client.searchRuns({ parent, orderBy: ["metrics.acc DESC"], pageSize: 5, pageToken });
      pages.push(res.runs.map((r) => Number(r.run!.run)));
      pageToken = res.nextPageToken;
    } while (pageToken);
    expect(pages).toEqual([[7, 8, 6, 9, 5], [3, 10, 4, 11, 2], [1, 12]]);
    const { nextPageToken } = await client.searchRuns({ parent, orderBy: ["metrics.acc DESC"], pageSize: 5 });
    await expect(client.searchRuns({ parent, orderBy: ["metrics.acc ASC"], pageSize: 5, pageToken: nextPageToken })).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/another filter/) });
    await expect(exp.search({ filter: "metrics.acc >" })).rejects.toMatchObject({ reason: "INVALID_FILTER" });
    await expect(exp.search({ orderBy: ["duration DESC"] })).rejects.toMatchObject({ reason: "INVALID_ORDER_BY" });
    await expect(kiln.experiment(unique("none")).search()).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a multi-step run (5 folds), its metric history, and training epochs from an estimator", async () => {
    const exp = kiln.experiment(unique("folds"));
    await exp.run((run) => {
      for (let fold = 0; fold < 5; fold++) run.logMetric("score", 0.8 + fold / 100, { step: fold });
      const X = Array.from({ length: 50 }, (_, i) => [i / 50, (i % 7) / 7]);
      new SGDRegressor({ maxIter: 5, tol: null, randomState: 0, onEpoch: run.onEpoch }).fit(X, X.map(([a, b]) => 2 * a! - b!));
    });
    const folds = await exp.data({ key: "score", step: { from: 1, to: 3 } });
    expect(folds.map((r) => r.step)).toEqual([1, 2, 3]);
    expect((await exp.history("score")).map((p) => p.value)).toEqual([0, 1, 2, 3, 4].map((fold) => 0.8 + fold / 100));
    expect((await exp.history("loss")).map((p) => p.step)).toEqual([1, 2, 3, 4, 5]);
    // Logged out of step order, twice at a step, once not a number: in step order, logging order within a step, either way it is read.
    await exp.run((run) => {
      for (const [step, value] of [[2, 0.2], [0, 0], [1, 0.11], [1, 0.12]] as const) run.logMetric("late", value, { step });
      run.logEvent("metric", "late", "text", { step: 3 });
    });
    const late = (points: { step: number; value: number }[]) => points.map((p) => [p.step, p.value]);
    expect(late(await exp.history("late"))).toEqual([[0, 0], [1, 0.11], [1, 0.12], [2, 0.2], [3, NaN]]);
    expect(late(await exp.history("late", undefined, { maxPoints: 10 }))).toEqual(late(await exp.history("late")));
  });

  it("reads back a run bigger than one page (120,000 points) as one table", async () => {
    const exp = kiln.experiment(unique("big"));
    await exp.run((run) => {
      for (let i = 0; i < 120_000; i++) run.logMetric(i % 2 ? "a" : "b", i, { step: i });
    });
    const table = await exp.dataTable({ key: "a" });
    expect(table.numRows).toBe(60_000);
    const values = table.getChild("value")!.toArray() as Float64Array;
    expect([values[0], values[59_999]]).toEqual([1, 119_999]);
  });

  it("reads a metric history longer than one answer holds (260,000 points) in pages, or a sample of it to draw", async () => {
    const exp = kiln.experiment(unique("long"));
    await exp.run((run) => {
      for (let step = 0; step < 260_000; step++) run.logMetric("loss", 1 / (1 + step), { step });
    });
    const points = await exp.history("loss");
    expect(points).toHaveLength(260_000);
    expect(points.every((p, i) => p.step === i && p.value === 1 / (1 + i))).toBe(true);
    const drawn = await exp.history("loss", 1, { maxPoints: 100 });
    expect(drawn).toHaveLength(100);
    expect([drawn[0]!.step, drawn[99]!.step]).toEqual([0, 259_999]);
    // Every point in one answer is refused, over the wire, saying what to ask for instead.
    const client = createClient(TrackingService, createGrpcTransport({ baseUrl: running.server.url }));
    await expect(client.getMetricHistory({ run: `${exp.name}/runs/1`, key: "loss" })).rejects.toMatchObject({
      code: Code.ResourceExhausted,
      rawMessage: expect.stringMatching(/260000 points, more than one answer holds/),
    });
  });

  it("the profiling provider samples the machine; notrack logs nothing", async () => {
    const name = unique("prof");
    await kiln.experiment(name, { provider: "profiling", profileIntervalMs: 50 }).run(async () => {
      await new Promise((r) => setTimeout(r, 200));
    });
    const profile = await kiln.experiment(name).data({ event: "profile" });
    const keys = new Set(profile.map((r) => r.key));
    for (const key of ["memory_load", "memory_total", "cpu_load", "cpu_count", "cpu_avg", "disk_use", "disk_total"]) expect(keys).toContain(key);
    expect(profile.filter((r) => r.key === "cpu_count").length).toBeGreaterThanOrEqual(3);

    const quiet = unique("quiet");
    await kiln.experiment(quiet, { provider: "notrack" }).run((run) => run.logMetric("x", 1));
    await expect(kiln.experiment(quiet).data()).rejects.toBeInstanceOf(NotFoundError);
  });

  it("tracks a linked model's runtime jobs as runs: task_call, the score, task_success", async () => {
    const experiment = unique("linked");
    const model = unique("lin");
    await kiln.datasets.put("lin-xy", Array.from({ length: 30 }, (_, i) => ({ a: i, b: i % 4, y: 2 * i - (i % 4) })));
    await kiln.models.create(model, { estimator: "linear_regression" });
    await (await kiln.runtime.model(model).fit({ dataset: "lin-xy", columns: ["a", "b"] }, { dataset: "lin-xy", columns: ["y"] })).get();
    await kiln.models.setMetadata(`${model}:2`, { tracking: { default: experiment } });
    const job = await kiln.runtime.model(`${model}:2`).score({ dataset: "lin-xy", columns: ["a", "b"] }, { dataset: "lin-xy", columns: ["y"] });
    await job.get();
    const exp = kiln.experiment(experiment);
    let rows: EventRow[] = [];
    await expect.poll(async () => (rows = await exp.data({ run: "all" }).catch(() => [])).some((r) => r.event === "task_success"), { timeout: 10_000 }).toBe(true);
    expect(rows.map((r) => r.event)).toEqual(["task_call", "metric", "metric", "metric", "task_success"]);
    // The run names the job and what it read, versions and all, so it can be traced back and run again.
    expect(rows[0]).toMatchObject({
      key: "score",
      value: { job: job.name, model: `projects/default/models/${model}/versions/2`, x: "projects/default/datasets/lin-xy@1 columns a, b", y: "projects/default/datasets/lin-xy@1 columns y" },
    });
    expect(rows.find((r) => r.key === "r2")!.value).toBeCloseTo(1, 6);
    expect((await exp.runs())[0]!.status).toBe("finished");

    // A fit of the linked version is tracked too, with its params, names the version it made, and that version stays linked.
    const fit = await kiln.runtime.model(`${model}:2`).fit({ dataset: "lin-xy", columns: ["a", "b"] }, { dataset: "lin-xy", columns: ["y"] }, { params: { fit_intercept: false } });
    await fit.get();
    await expect.poll(async () => (rows = await exp.data({ run: "all" }).catch(() => [])).filter((r) => r.event === "task_success").length, { timeout: 10_000 }).toBe(2);
    expect(rows.find((r) => r.event === "model")).toMatchObject({ key: "model_version", value: `projects/default/models/${model}/versions/3` });
    expect(rows.filter((r) => r.event === "param")).toMatchObject([{ key: "fit_intercept", value: false }]);
    expect((await exp.summary()).at(-1)!.params).toEqual({ fit_intercept: false });

    // A job on local data names it as such, not by the temporary dataset it travelled as.
    await (await kiln.runtime.model(`${model}:2`).predict([{ a: 1, b: 0 }])).get();
    await expect.poll(async () => (rows = await exp.data({ run: "all" }).catch(() => [])).filter((r) => r.event === "task_success").length, { timeout: 10_000 }).toBe(3);
    expect(rows.filter((r) => r.event === "task_call").at(-1)).toMatchObject({ key: "predict", value: { x: "the local x" } });
    expect((await kiln.models.get(`${model}:3`)).metadata).toMatchObject({ tracking: { default: experiment } });
  });

  it("without streaming requests (as in a browser), sends each batch in one AppendEvents message and loses none", async () => {
    const oneMessage = await Kiln.connect({ transport: createGrpcTransport({ baseUrl: running.server.url }), writeMode: "resumable" });
    const name = unique("one-message");
    await oneMessage.experiment(name, { buffer: { batchSize: 100 } }).run(async (run) => {
      for (let step = 0; step < 1050; step++) run.logMetric("loss", 1 / (step + 1), { step });
    });
    const rows = await kiln.experiment(name).data({ key: "loss" });
    expect(rows).toHaveLength(1050);
    expect(rows.at(-1)).toMatchObject({ step: 1049, value: 1 / 1050 });
    oneMessage.close();
  });

  it("skips events it has seen, so retried batches never duplicate rows", async () => {
    const exp = kiln.experiment(unique("retry"));
    const run = await exp.start();
    const client = createClient(TrackingService, createGrpcTransport({ baseUrl: running.server.url }));
    const events = [1, 2, 3].map((i) => ({ id: `retry-${i}`, event: "metric", key: "m", value: { case: "number" as const, value: i } }));
    async function* once() {
      yield { run: `${exp.name}/runs/${run.number}`, events };
    }
    expect(await client.logEvents(once())).toMatchObject({ accepted: 3n, duplicates: 0n });
    expect(await client.logEvents(once())).toMatchObject({ accepted: 0n, duplicates: 3n });
    // AppendEvents (one message, for browsers) skips them the same way, and takes the new ones.
    const more = [...events, { id: "retry-4", event: "metric", key: "m", value: { case: "number" as const, value: 4 } }];
    expect(await client.appendEvents({ batches: [{ run: `${exp.name}/runs/${run.number}`, events: more }] })).toMatchObject({ accepted: 1n, duplicates: 3n });
    await run.stop();
    expect((await exp.data({ key: "m" })).map((r) => r.value)).toEqual([1, 2, 3, 4]);
  });

  it("takes columns of doubles either packed or as little-endian bytes, and refuses a byte column of the wrong length", async () => {
    const exp = kiln.experiment(unique("columns"));
    const run = await exp.start();
    const client = createClient(TrackingService, createGrpcTransport({ baseUrl: running.server.url }));
    const at = Date.parse("2026-01-02T03:04:05Z");
    const base = { strings: ["metric", "m", ""], event: [0, 0], key: [1, 1], node: [2, 2], step: [0, 1], valueType: [1, 1] };
    const send = (batchId: string, columns: object) =>
      client.logEvents(
        (async function* () {
          yield { run: `${exp.name}/runs/${run.number}`, batchId, columns: { ...base, ...columns } };
        })(),
      );
    await send("packed", { dt: [at, at], number: [1.5, -2] });
    await send("bytes", { dtF64: float64Bytes(Float64Array.of(at + 1000, at + 1000)), numberF64: float64Bytes(Float64Array.of(Math.PI, 1e-300)) });
    const err = await send("short", { dtF64: new Uint8Array(15), numberF64: new Uint8Array(16) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    expect((err as Error).message).toMatch(/dt_f64 holds 15 bytes/);
    await run.stop();
    const rows = await exp.data({ key: "m" });
    expect(rows.map((r) => r.value)).toEqual([1.5, -2, Math.PI, 1e-300]);
    expect(rows.map((r) => new Date(r.dt).getTime())).toEqual([at, at, at + 1000, at + 1000]);
  });

  it("refuses bad input with the right codes", async () => {
    await expect(kiln.experiment(unique("nothing")).data()).rejects.toBeInstanceOf(NotFoundError);
    const exp = kiln.experiment(unique("bad"));
    const run = await exp.start();
    run.logMetric("k".repeat(300), 1);
    await expect(run.flush()).rejects.toBeInstanceOf(InvalidArgumentError);

    const other = await kiln.experiment(unique("big")).start();
    other.logParam("blob", "x".repeat(10 * 1024 * 1024));
    await expect(other.flush()).rejects.toBeInstanceOf(ResourceExhaustedError);

    await kiln.experiment(exp.name.split("/").pop()!).run((r) => r.logMetric("ok", 1));
    const err = await exp.data({ filter: 'key = "ok" AND (step > ' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/position \d+/);
  });

  it("lists and drops experiments; a dropped name can be used again", async () => {
    const name = unique("drop");
    await kiln.experiment(name).run((r) => r.logMetric("a", 1));
    expect((await kiln.experiments.list()).some((e) => e.name.endsWith(`/${name}`))).toBe(true);
    await kiln.experiments.drop(name);
    await expect(kiln.experiment(name).data()).rejects.toBeInstanceOf(NotFoundError);
    await kiln.experiment(name).run((r) => r.logMetric("b", 2));
    expect((await kiln.experiment(name).data({ key: ["a", "b"] })).map((r) => [r.run, r.key])).toEqual([[1, "b"]]);
  });
});
