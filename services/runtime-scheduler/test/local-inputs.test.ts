import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fromJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { tableFromArrays, type StructRowProxy, type Table } from "apache-arrow";
import { TEMPORARY_INPUT_LABEL } from "@kiln/contracts";
import { tableToIpc } from "@kiln/data";
import { JobKind, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { PROJECT, failure, makeDataset, makeOnnxModel, startHarness, type Harness, type JobInit } from "./harness.js";

const json = (value: JsonValue) => ({ local: { case: "data" as const, value: fromJson(ValueSchema, value) } });
const arrow = (bytes: Uint8Array) => ({ local: { case: "arrowIpc" as const, value: bytes } });

describe("job inputs with their data in the request", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const submit = (job: JobInit, requestId = "") => h.runtime.submitJob({ parent: PROJECT, job, requestId });
  const datasetNames = async () => (await h.store.listDatasets({ parent: PROJECT })).datasets.map((d) => d.name);
  const rowsOf = async (name: string) => ((await h.kiln.datasets.get(name.split("/").pop()!)) as Table).toArray().map((r: StructRowProxy) => ({ ...r.toJSON() }));

  it("stores each form of JSON data as a temporary dataset the job reads, and shows the dataset, not the data", async () => {
    const model = await makeOnnxModel(h);
    const cases: { data: JsonValue; rows: Record<string, unknown>[]; columns: string[] }[] = [
      // Positional, as sklearn's X: the columns in order are the features.
      { data: [[1, 2], [3, 4]], rows: [{ x0: 1, x1: 2 }, { x0: 3, x1: 4 }], columns: ["x0", "x1"] },
      // Named: the model takes its features by name.
      { data: [{ a: 1, b: 2 }, { a: 3, b: 4 }], rows: [{ a: 1, b: 2 }, { a: 3, b: 4 }], columns: [] },
      { data: { a: [1, 3], b: [2, 4] }, rows: [{ a: 1, b: 2 }, { a: 3, b: 4 }], columns: [] },
    ];
    for (const c of cases) {
      const { job } = await submit({ kind: JobKind.PREDICT, model, x: json(c.data) });
      const x = job!.x!;
      expect(x.local.case).toBeUndefined();
      expect(x.temporary).toBe(true);
      expect(x.version).toBe(1n);
      expect(x.columns).toEqual(c.columns);
      expect(await rowsOf(x.dataset)).toEqual(c.rows);
      const stored = (await h.store.getDataset({ name: x.dataset })).dataset!;
      expect(stored.labels[TEMPORARY_INPUT_LABEL]).toBe("true");
      expect((await h.runtime.getJob({ name: job!.name })).job!.x).toEqual(x);
    }
  });

  it("takes targets as a plain array (one column y) and Arrow IPC bytes, with columns and filter applied as to a dataset", async () => {
    const model = await makeOnnxModel(h);
    const ipc = tableToIpc(tableFromArrays({ a: Float64Array.from([1, 3, 5]), b: Float64Array.from([2, 4, 6]), c: Float64Array.from([0, 0, 0]) }));
    const { job } = await submit({ kind: JobKind.SCORE, model, x: { ...arrow(ipc), columns: ["a", "b"], filter: "a > 1" }, y: json(["no", "yes", "yes"]) });
    expect(job!.x!.columns).toEqual(["a", "b"]);
    expect(job!.x!.filter).toBe("a > 1");
    expect(await rowsOf(job!.x!.dataset)).toEqual([
      { a: 1, b: 2, c: 0 },
      { a: 3, b: 4, c: 0 },
      { a: 5, b: 6, c: 0 },
    ]);
    expect(job!.y!.columns).toEqual(["y"]);
    expect(await rowsOf(job!.y!.dataset)).toEqual([{ y: "no" }, { y: "yes" }, { y: "yes" }]);
  });

  it("drops the datasets once the job is over", async () => {
    const model = await makeOnnxModel(h);
    const { job } = await submit({ kind: JobKind.SCORE, model, x: json([[1, 2]]), y: json([3]) });
    expect(await datasetNames()).toEqual(expect.arrayContaining([job!.x!.dataset, job!.y!.dataset]));
    await h.executor.startAttempt({ name: job!.name, executor: "executors/e1" });
    const done = await h.executor.finishAttempt({ name: job!.name, attempt: 1, outcome: { case: "result", value: { metrics: { r2: 1 } } } });
    expect(done.job!.state).toBe(JobState.SUCCEEDED);
    await expect.poll(datasetNames).not.toContain(job!.x!.dataset);
    expect(await datasetNames()).not.toContain(job!.y!.dataset);
  });

  it("refuses bad data with InvalidArgument and leaves no dataset and no job behind", async () => {
    const model = await makeOnnxModel(h);
    const ds = await makeDataset(h);
    const before = await datasetNames();
    const cases: { job: JobInit; code: Code; reason: string; says: string }[] = [
      { job: { kind: JobKind.PREDICT, model, x: { ...json([[1, 2]]), dataset: ds } }, code: Code.InvalidArgument, reason: "AMBIGUOUS_INPUT", says: "job.x names a dataset and carries data" },
      { job: { kind: JobKind.PREDICT, model, x: { ...arrow(new Uint8Array([1])), dataset: ds } }, code: Code.InvalidArgument, reason: "AMBIGUOUS_INPUT", says: "job.x names a dataset and carries arrow_ipc" },
      { job: { kind: JobKind.PREDICT, model, x: { ...json([[1, 2]]), temporary: true } }, code: Code.InvalidArgument, reason: "AMBIGUOUS_INPUT", says: "made temporary by the scheduler" },
      { job: { kind: JobKind.PREDICT, model, x: json(42) }, code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA", says: "job.x.data takes an array of row objects" },
      { job: { kind: JobKind.PREDICT, model, x: json([]) }, code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA", says: "got an empty array" },
      { job: { kind: JobKind.PREDICT, model, x: json([[1, 2], [3]]) }, code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA", says: "arrays of numbers of different lengths" },
      { job: { kind: JobKind.PREDICT, model, x: arrow(new TextEncoder().encode("not arrow")) }, code: Code.InvalidArgument, reason: "BAD_ARROW_CHUNK", says: "job.x.arrow_ipc: " },
      { job: { kind: JobKind.PREDICT, model, x: arrow(new Uint8Array()) }, code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA", says: "job.x.arrow_ipc is empty" },
      // Checked once stored, as a dataset's columns are; named as the request's data.
      { job: { kind: JobKind.PREDICT, model, x: { ...json([{ a: 1 }]), columns: ["zz"] } }, code: Code.InvalidArgument, reason: "UNKNOWN_COLUMN", says: "job.x.columns: the data of job.x has no column" },
      { job: { kind: JobKind.PREDICT, model, x: { ...json([{ a: 1 }]), filter: "zz > 1" } }, code: Code.InvalidArgument, reason: "INVALID_FILTER", says: "job.x.filter" },
      // A bad model with good data: the data was stored while the model was looked up, and goes.
      { job: { kind: JobKind.PREDICT, model: `${PROJECT}/models/nope`, x: json([[1, 2]]) }, code: Code.NotFound, reason: "MODEL_NOT_FOUND", says: "nope" },
      { job: { kind: JobKind.SCORE, model, x: json([[1, 2]]), y: json({}) }, code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA", says: "job.y.data" },
    ];
    for (const c of cases) {
      const err = await failure(submit(c.job));
      const label = c.says;
      expect(Code[err.code], label).toBe(Code[c.code]);
      if (c.reason) expect(err.reason, label).toBe(c.reason);
      expect(err.message, label).toContain(c.says);
    }
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toEqual([]);
    expect(await datasetNames()).toEqual(before);
  });

  it("with the store away the submit fails Unavailable, as for a dataset, and queues nothing", async () => {
    await h.close(); // the harness beforeEach made: this one's scheduler has a store whose writes fail
    h = await startHarness({
      schedulerStore: (store) => ({
        ...store,
        writeDataset: async () => {
          throw new ConnectError("store unavailable", Code.Unavailable);
        },
      }),
    });
    const model = await makeOnnxModel(h);
    const err = await failure(submit({ kind: JobKind.PREDICT, model, x: json([[1, 2]]) }));
    expect(Code[err.code]).toBe(Code[Code.Unavailable]);
    expect(err.message).not.toContain("job.x.data");
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toEqual([]);
  });

  it("a repeated request_id returns the first job without storing its data again", async () => {
    const model = await makeOnnxModel(h);
    const first = (await submit({ kind: JobKind.PREDICT, model, x: json([[1, 2]]) }, "once")).job!;
    const again = (await submit({ kind: JobKind.PREDICT, model, x: json([[1, 2]]) }, "once")).job!;
    expect(again.name).toBe(first.name);
    const { jobs } = await h.runtime.submitJobs({
      parent: PROJECT,
      requests: [
        { job: { kind: JobKind.PREDICT, model, x: json([[5, 6]]) }, requestId: "twice" },
        { job: { kind: JobKind.PREDICT, model, x: json([[7, 8]]) }, requestId: "twice" },
      ],
    });
    expect(jobs[1]!.name).toBe(jobs[0]!.name);
    const temporaries = (await datasetNames()).filter((n) => n.includes("/tmp-"));
    expect(temporaries.sort()).toEqual([first.x!.dataset, jobs[0]!.x!.dataset].sort());
    expect(await rowsOf(jobs[0]!.x!.dataset)).toEqual([{ x0: 5, x1: 6 }]);
  });

  it("a batch refused for one bad request drops the data its other requests stored", async () => {
    const model = await makeOnnxModel(h);
    const err = await failure(
      h.runtime.submitJobs({
        parent: PROJECT,
        requests: [{ job: { kind: JobKind.PREDICT, model, x: json([[1, 2]]) } }, { job: { kind: JobKind.PREDICT, model, x: json("text") } }],
      }),
    );
    expect(err.reason).toBe("INVALID_INPUT_DATA");
    expect(err.message).toContain("requests[1]");
    expect((await datasetNames()).filter((n) => n.includes("/tmp-"))).toEqual([]);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs as Job[]).toEqual([]);
  });
});
