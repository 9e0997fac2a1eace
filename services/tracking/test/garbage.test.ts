import { create } from "@bufbuild/protobuf";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LogEventsRequestSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackingDeps } from "../src/deps.js";
import { deleteExperiment } from "../src/experiments.js";
import { trackingGarbage } from "../src/garbage.js";
import { logEvents } from "../src/log.js";
import { addTraceFile, spansOf, writeSpansDoc } from "../src/mlflow-trace-spans.js";
import { deleteTraceRecords, saveTrace } from "../src/mlflow-trace-store.js";
import { collections, type LoggedModelRecord, type TraceRecord } from "../src/records.js";
import { startRun } from "../src/runs.js";
import { testDeps } from "./test-deps.js";

const HOUR = 3_600_000;

describe("artifact files of dropped experiments", () => {
  let dir: string;
  let deps: TrackingDeps;
  let clock = Date.parse("2026-11-25T00:00:00Z");

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-garbage-"));
    deps = testDeps(dir, () => new Date(clock));
  });
  afterAll(async () => {
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function logFiles(experiment: string, files: string[]): Promise<void> {
    const run = await startRun(deps, { parent: `projects/default/experiments/${experiment}`, createExperiment: true, tags: {}, node: "", runKey: "" });
    const events = files.map((sha256, i) => ({ id: `${experiment}-${i}`, event: "artifact", key: `f${i}`, value: { case: "artifact" as const, value: { kind: "file", ref: sha256, name: `f${i}` } } }));
    events.push({ id: `${experiment}-json`, event: "artifact", key: "cfg", value: { case: "artifact" as const, value: { kind: "json", ref: '{"a":1}', name: "cfg" } } });
    await logEvents(
      deps,
      (async function* () {
        yield create(LogEventsRequestSchema, { run: `projects/default/experiments/${experiment}/runs/${run.run}`, events });
      })(),
    );
  }

  it("go after the grace period, unless another experiment logged them; uploads never logged go too", async () => {
    const put = async (text: string) => (await deps.blobs.put(new TextEncoder().encode(text))).sha256;
    const [shared, onlyDropped, neverLogged] = [await put("shared"), await put("only in the dropped one"), await put("uploaded, never logged")];
    await logFiles("dropped", [shared, onlyDropped]);
    await logFiles("kept", [shared]);
    await trackingGarbage(deps).mark([neverLogged]); // what the upload route does

    await deleteExperiment(deps, "projects/default/experiments/dropped");
    for (const sha256 of [shared, onlyDropped, neverLogged]) expect(await deps.blobs.has(sha256)).toBe(true); // within the grace period

    clock += 2 * HOUR;
    expect(await trackingGarbage(deps).sweep()).toBe(2);
    expect(await deps.blobs.has(shared)).toBe(true);
    expect(await deps.blobs.has(onlyDropped)).toBe(false);
    expect(await deps.blobs.has(neverLogged)).toBe(false);
  });

  it("keep a file logged in chunks (its pieces) while its experiment lives, and collect them once it is dropped", async () => {
    const put = async (text: string) => ({ sha256: (await deps.blobs.put(new TextEncoder().encode(text))).sha256, size: BigInt(text.length) });
    const pieces = [await put("first piece, "), await put("second piece")];
    const marks = trackingGarbage(deps);
    await marks.mark(pieces.map((p) => p.sha256)); // as uploaded
    const run = await startRun(deps, { parent: "projects/default/experiments/chunked", createExperiment: true, tags: {}, node: "", runKey: "" });
    const logged = (value: { kind: string; ref: string; size: bigint; chunks: typeof pieces }) =>
      logEvents(
        deps,
        (async function* () {
          yield create(LogEventsRequestSchema, { run: `projects/default/experiments/chunked/runs/${run.run}`, events: [{ id: `chunked-${value.ref}-${value.size}`, event: "artifact", key: "weights", value: { case: "artifact", value: { ...value, name: "weights" } } }] });
        })(),
      );
    const whole = "ab".repeat(32);
    await logged({ kind: "file", ref: whole, size: 25n, chunks: pieces });
    // Pieces that do not add up, or a ref that is not a sha256, are refused with nothing stored.
    await expect(logged({ kind: "file", ref: whole, size: 26n, chunks: pieces })).rejects.toMatchObject({ reason: "INVALID_ARTIFACT", message: 'artifact "weights": its chunks hold 25 bytes and its size says 26' });
    await expect(logged({ kind: "json", ref: "{}", size: 25n, chunks: pieces })).rejects.toMatchObject({ reason: "INVALID_ARTIFACT" });
    await expect(logged({ kind: "file", ref: "weights.bin", size: 25n, chunks: pieces })).rejects.toMatchObject({ reason: "INVALID_ARTIFACT" });

    clock += 2 * HOUR;
    await marks.sweep();
    for (const p of pieces) expect(await deps.blobs.has(p.sha256)).toBe(true);
    await deleteExperiment(deps, "projects/default/experiments/chunked");
    clock += 2 * HOUR;
    expect(await trackingGarbage(deps).sweep()).toBe(2);
    for (const p of pieces) expect(await deps.blobs.has(p.sha256)).toBe(false);
  });

  it("keep an MLflow logged model's files while the model and its experiment live, and collect them once either is gone", async () => {
    const put = async (text: string) => (await deps.blobs.put(new TextEncoder().encode(text))).sha256;
    const [kept, deleted] = [await put("a kept model's weights"), await put("a deleted model's weights")];
    const marks = trackingGarbage(deps);
    await marks.mark([kept, deleted]); // as uploaded
    await startRun(deps, { parent: "projects/default/experiments/models", createExperiment: true, tags: {}, node: "", runKey: "" });
    const model = (modelId: string, sha256: string): LoggedModelRecord => ({
      project: "projects/default",
      modelId,
      experiment: "projects/default/experiments/models",
      name: "model",
      modelType: "",
      sourceRunId: "",
      status: "LOGGED_MODEL_READY",
      createTime: new Date(clock).toISOString(),
      updateTime: new Date(clock).toISOString(),
      params: {},
      tags: {},
      metrics: [],
      files: { "model.pkl": { kind: "file", ref: sha256, name: "model.pkl", size: 10 } },
    });
    const { loggedModels } = collections(deps);
    await loggedModels.create("projects/default/m-kept", model("m-kept", kept));
    await loggedModels.create("projects/default/m-deleted", model("m-deleted", deleted));
    await loggedModels.delete("projects/default/m-deleted");

    clock += 2 * HOUR;
    expect(await marks.sweep()).toBe(1);
    expect(await deps.blobs.has(kept)).toBe(true);
    expect(await deps.blobs.has(deleted)).toBe(false);
    await deleteExperiment(deps, "projects/default/experiments/models");
    expect(await loggedModels.get("projects/default/m-kept")).toBeUndefined();
    clock += 2 * HOUR;
    expect(await trackingGarbage(deps).sweep()).toBe(1);
    expect(await deps.blobs.has(kept)).toBe(false);
  });

  it("keep an MLflow trace's spans while the trace and its experiment live, and collect them once either is gone", async () => {
    const put = async (text: string) => (await deps.blobs.put(new TextEncoder().encode(text))).sha256;
    const [kept, deleted] = [await put('{"spans": ["kept"]}'), await put('{"spans": ["deleted"]}')];
    const marks = trackingGarbage(deps);
    await marks.mark([kept, deleted]); // as uploaded
    const experiment = "projects/default/experiments/traced";
    await startRun(deps, { parent: experiment, createExperiment: true, tags: {}, node: "", runKey: "" });
    const trace = (traceId: string, sha256: string): TraceRecord => ({
      traceId,
      experiment,
      clientRequestId: "",
      requestTime: clock,
      executionMs: 5,
      state: "OK",
      requestPreview: "",
      responsePreview: "",
      metadata: {},
      tags: {},
      assessments: [],
      linkedRuns: [],
      files: { "traces.json": { kind: "file", ref: sha256, name: "traces.json", size: 18 } },
    });
    for (const [id, sha256] of [["tr-kept", kept], ["tr-deleted", deleted]] as const) await saveTrace(deps, "projects/default", trace(id, sha256), () => undefined);
    await deleteTraceRecords(deps, "projects/default", [trace("tr-deleted", deleted)]);

    clock += 2 * HOUR;
    expect(await marks.sweep()).toBe(1);
    expect(await deps.blobs.has(kept)).toBe(true);
    expect(await deps.blobs.has(deleted)).toBe(false);
    await deleteExperiment(deps, experiment);
    expect(await collections(deps).traces.count()).toBe(0);
    expect(await collections(deps).traceIds.count()).toBe(0);
    clock += 2 * HOUR;
    expect(await trackingGarbage(deps).sweep()).toBe(1);
    expect(await deps.blobs.has(kept)).toBe(false);
  });
  it("keep the blobs a trace's spans outgrew a document into, the latest only, and collect them with the trace", async () => {
    const experiment = "projects/default/experiments/otlp-traced";
    await startRun(deps, { parent: experiment, createExperiment: true, tags: {}, node: "", runKey: "" });
    const traceId = "tr-grown";
    await saveTrace(deps, "projects/default", { traceId, experiment, clientRequestId: "", requestTime: clock, executionMs: 5, state: "OK", requestPreview: "", responsePreview: "", metadata: {}, tags: {}, assessments: [], linkedRuns: [], files: {} }, () => undefined);
    const spans = (n: number, letter: string) => JSON.stringify({ spans: Array.from({ length: n }, (_, i) => ({ span_id: `${letter}${i}`, name: letter, attributes: { doc: letter.repeat(1024 * 1024) } })) });
    const write = async (text: string) => addTraceFile(deps, "projects/default", traceId, "traces.json", await writeSpansDoc(deps, "projects/default", traceId, () => text));
    const noted = async () => (await collections(deps).traces.list({ prefix: `${experiment}/` }))[0]!.value.files["traces.json"]!;
    const blobs = async () => (await collections(deps).traceSpans.get(`projects/default/${traceId}`))!.value.pieces?.map((p) => p.sha256) ?? [];

    await write(spans(2, "a"));
    expect(await blobs()).toEqual([]); // 2 MiB: a document's text
    await write(spans(5, "b"));
    const first = await blobs();
    expect(first).toHaveLength(2); // 5 MiB in pieces of 4
    expect((await noted()).chunks?.map((c) => c.sha256)).toEqual(first);
    await write(spans(6, "c"));
    const second = await blobs();
    expect(second).toHaveLength(2);
    expect((await noted()).chunks?.map((c) => c.sha256)).toEqual(second);
    const read = await spansOf(deps, (await collections(deps).traces.list({ prefix: `${experiment}/` }))[0]!.value);
    expect(read.map((s) => s.span_id)).toEqual(["c0", "c1", "c2", "c3", "c4", "c5"]);

    clock += 2 * HOUR;
    await trackingGarbage(deps).sweep();
    expect(await Promise.all(first.map((sha256) => deps.blobs.has(sha256)))).toEqual([false, false]); // replaced
    expect(await Promise.all(second.map((sha256) => deps.blobs.has(sha256)))).toEqual([true, true]);
    await deleteExperiment(deps, experiment);
    clock += 2 * HOUR;
    await trackingGarbage(deps).sweep();
    expect(await Promise.all(second.map((sha256) => deps.blobs.has(sha256)))).toEqual([false, false]);
    expect(await collections(deps).traceSpans.count()).toBe(0);
  });
});
