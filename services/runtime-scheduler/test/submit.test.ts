import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { JobKind, JobState } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { queueFor } from "../src/queues.js";
import {
  PROJECT,
  eventsSoFar,
  failure,
  makeDataset,
  makeOnnxModel,
  makeRunnableTrainableModel,
  makeTrainableModel,
  pullQueue,
  queueMessagesSoFar,
  queuedJobName,
  startHarness,
  submitNoop,
  uniqueName,
  type Harness,
  type JobInit,
} from "./harness.js";

describe("SubmitJob", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const submit = (job: JobInit | undefined, requestId = "", parent = PROJECT) => h.runtime.submitJob({ parent, job, requestId });

  /** Nothing of a submit survives: no job, no idempotency claim, no queue, no queue message, no event. */
  async function expectNothingStored(): Promise<void> {
    for (const collection of ["runtime_jobs", "runtime_requests", "runtime_queues"]) {
      expect(await h.metadata.collection(collection).list(), collection).toEqual([]);
    }
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toEqual([]);
    expect(await queueMessagesSoFar(h.bus)).toEqual([]);
    expect(await eventsSoFar(h.bus)).toEqual([]);
  }

  it("rejects bad jobs with the right code and reason, and stores nothing for any of them", async () => {
    const ds = await makeDataset(h);
    const onnx = await makeOnnxModel(h);
    const trainable = await makeTrainableModel(h);
    const tensor = `${PROJECT}/datasets/${uniqueName("tensor")}`;
    await h.kiln.datasets.put(tensor.split("/").pop()!, { data: new Float32Array(4), shape: [2, 2] });
    const cases: { job: JobInit | undefined; code: Code; reason: string; parent?: string; requestId?: string }[] = [
      { job: undefined, code: Code.InvalidArgument, reason: "INVALID_JOB_KIND" },
      { job: {}, code: Code.InvalidArgument, reason: "INVALID_JOB_KIND" },
      { job: { kind: 42 as JobKind }, code: Code.InvalidArgument, reason: "INVALID_JOB_KIND" },
      { job: { kind: JobKind.PREDICT, x: { dataset: ds } }, code: Code.InvalidArgument, reason: "MODEL_REQUIRED" },
      { job: { kind: JobKind.PREDICT, model: onnx }, code: Code.InvalidArgument, reason: "INPUT_REQUIRED" },
      { job: { kind: JobKind.PREDICT, model: `${PROJECT}/models/${uniqueName("nope")}`, x: { dataset: ds } }, code: Code.NotFound, reason: "MODEL_NOT_FOUND" },
      { job: { kind: JobKind.PREDICT, model: `${onnx}/versions/7`, x: { dataset: ds } }, code: Code.NotFound, reason: "VERSION_NOT_FOUND" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: `${PROJECT}/datasets/${uniqueName("nope")}` } }, code: Code.NotFound, reason: "DATASET_NOT_FOUND" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, version: 9n } }, code: Code.NotFound, reason: "VERSION_NOT_FOUND" },
      // Model and data are looked up together; with both missing, the model is named, every time.
      { job: { kind: JobKind.PREDICT, model: `${PROJECT}/models/${uniqueName("nope")}`, x: { dataset: `${PROJECT}/datasets/${uniqueName("nope")}` } }, code: Code.NotFound, reason: "MODEL_NOT_FOUND" },
      // Whether SCORE needs y depends on the model (a clusterer scores without), so a missing model is named first.
      { job: { kind: JobKind.SCORE, model: `${PROJECT}/models/${uniqueName("nope")}`, x: { dataset: ds } }, code: Code.NotFound, reason: "MODEL_NOT_FOUND" },
      { job: { kind: JobKind.SCORE, model: onnx, x: { dataset: `${PROJECT}/datasets/${uniqueName("nope")}` }, y: { dataset: ds, version: 9n } }, code: Code.NotFound, reason: "DATASET_NOT_FOUND" },
      { job: { kind: JobKind.FIT, model: onnx, x: { dataset: ds }, y: { dataset: ds } }, code: Code.FailedPrecondition, reason: "NOT_TRAINABLE" },
      { job: { kind: JobKind.PARTIAL_FIT, model: onnx, x: { dataset: ds } }, code: Code.FailedPrecondition, reason: "NOT_TRAINABLE" },
      { job: { kind: JobKind.PREDICT, model: trainable, x: { dataset: ds } }, code: Code.FailedPrecondition, reason: "NOT_RUNNABLE" },
      { job: { kind: JobKind.SCORE, model: onnx, x: { dataset: ds } }, code: Code.InvalidArgument, reason: "INPUT_REQUIRED" },
      { job: { kind: JobKind.NOOP, requiredLabels: ["gpu", "has space"] }, code: Code.InvalidArgument, reason: "INVALID_LABEL" },
      { job: { kind: JobKind.NOOP, requiredLabels: [""] }, code: Code.InvalidArgument, reason: "INVALID_LABEL" },
      { job: { kind: JobKind.NOOP, requiredLabels: ["x".repeat(65)] }, code: Code.InvalidArgument, reason: "INVALID_LABEL" },
      { job: { kind: JobKind.NOOP, maxAttempts: -1 }, code: Code.InvalidArgument, reason: "INVALID_MAX_ATTEMPTS" },
      { job: { kind: JobKind.NOOP, maxAttempts: 101 }, code: Code.InvalidArgument, reason: "INVALID_MAX_ATTEMPTS" },
      { job: { kind: JobKind.NOOP, timeout: { seconds: -1n, nanos: 0 } }, code: Code.InvalidArgument, reason: "INVALID_TIMEOUT" },
      { job: { kind: JobKind.NOOP, outputDataset: "datasets/x" }, code: Code.InvalidArgument, reason: "INVALID_DATASET" },
      { job: { kind: JobKind.PREDICT, model: "models/m", x: { dataset: ds } }, code: Code.InvalidArgument, reason: "INVALID_MODEL" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: "iris" } }, code: Code.InvalidArgument, reason: "INVALID_DATASET" },
      { job: { kind: JobKind.PREDICT, model: "projects/other/models/m", x: { dataset: ds } }, code: Code.InvalidArgument, reason: "CROSS_PROJECT" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: "projects/other/datasets/d" } }, code: Code.InvalidArgument, reason: "CROSS_PROJECT" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds }, outputDataset: "projects/other/datasets/out" }, code: Code.InvalidArgument, reason: "CROSS_PROJECT" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, version: -1n } }, code: Code.InvalidArgument, reason: "INVALID_VERSION" },
      // What a job reads of its dataset is checked as the store checks a read: a table, named columns, a filter over them.
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, columns: ["a", "zz"] } }, code: Code.InvalidArgument, reason: "UNKNOWN_COLUMN" },
      { job: { kind: JobKind.SCORE, model: onnx, x: { dataset: ds }, y: { dataset: ds, columns: ["label"] } }, code: Code.InvalidArgument, reason: "UNKNOWN_COLUMN" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, filter: "a >" } }, code: Code.InvalidArgument, reason: "INVALID_FILTER" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, filter: "zz > 1" } }, code: Code.InvalidArgument, reason: "INVALID_FILTER" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds, filter: 'a = "text"' } }, code: Code.InvalidArgument, reason: "INVALID_FILTER" },
      { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: tensor } }, code: Code.FailedPrecondition, reason: "NOT_A_TABLE" },
      { job: { kind: JobKind.NOOP }, parent: "tenants/x", code: Code.InvalidArgument, reason: "INVALID_NAME" },
      { job: { kind: JobKind.NOOP }, requestId: "no/slashes", code: Code.InvalidArgument, reason: "INVALID_NAME" },
    ];
    for (const c of cases) {
      const label = JSON.stringify(c, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v));
      const err = await failure(submit(c.job, c.requestId ?? "", c.parent ?? PROJECT)).catch((e: Error) => {
        throw new Error(`${label}: ${e.message}`);
      });
      expect({ code: Code[err.code], reason: err.reason }, label).toEqual({
        code: Code[c.code],
        reason: c.reason,
      });
    }
    await expectNothingStored();
  });

  it("a rejected submit with a request_id does not claim the id: the corrected job gets it", async () => {
    const ds = await makeDataset(h);
    const onnx = await makeOnnxModel(h);
    const requestId = uniqueName("req");
    expect((await failure(submit({ kind: JobKind.SCORE, model: onnx, x: { dataset: ds } }, requestId))).reason).toBe("INPUT_REQUIRED");
    await expectNothingStored();
    const { job } = await submit({ kind: JobKind.SCORE, model: onnx, x: { dataset: ds }, y: { dataset: ds } }, requestId);
    expect(job).toMatchObject({ kind: JobKind.SCORE, state: JobState.QUEUED });
    expect((await submit({ kind: JobKind.NOOP }, requestId)).job!.name).toBe(job!.name);
  });

  it("returns the job QUEUED with a name, times, empty progress, default max_attempts and sorted unique labels", async () => {
    const job = await submitNoop(h, { requiredLabels: ["gpu", "cuda=12", "gpu"], params: { sleep_ms: 5 } });
    expect(job.name).toMatch(/^projects\/default\/jobs\/[0-9a-z]+$/);
    expect(job).toMatchObject({ kind: JobKind.NOOP, state: JobState.QUEUED, maxAttempts: 3, requiredLabels: ["cuda=12", "gpu"], attempts: [] });
    expect(job.params).toEqual({ sleep_ms: 5 });
    expect(job.createTime).toBeDefined();
    expect(job.createTime).toEqual(job.updateTime);
    expect(job.startTime).toBeUndefined();
    expect(job.progress?.fraction).toBe(0);
    expect((await h.runtime.getJob({ name: job.name })).job).toEqual(job);
    // An empty parent means the default project.
    expect((await h.runtime.submitJob({ job: { kind: JobKind.NOOP } })).job!.name).toMatch(/^projects\/default\/jobs\//);
  });

  it("only reads the fields a client may set: state, attempts, result and error given are ignored", async () => {
    const job = await submitNoop(h, {
      name: "projects/default/jobs/mine",
      state: JobState.SUCCEEDED,
      attempts: [{ number: 5, executor: "executors/x" }],
      result: { rows: 9n },
      error: { code: "INTERNAL", reason: "X", message: "x" },
    });
    expect(job.name).not.toBe("projects/default/jobs/mine");
    expect(job).toMatchObject({ state: JobState.QUEUED, attempts: [] });
    expect(job.result).toBeUndefined();
    expect(job.error).toBeUndefined();
  });

  it("pins the model version and the dataset versions: latest and tags become numbers, later versions do not move the job", async () => {
    const x = await makeDataset(h, [{ a: 1, b: 2 }]);
    const modelId = uniqueName("m");
    const model = await makeRunnableTrainableModel(h, modelId);
    await makeRunnableTrainableModel(h, modelId); // version 2
    await h.kiln.datasets.put(x.split("/").at(-1)!, [{ a: 5, b: 6 }]); // x version 2
    const y = await makeDataset(h, [{ t: 1 }]);

    const predict = (await submit({ kind: JobKind.PREDICT, model, x: { dataset: x, columns: ["a"], filter: "a > 0" } })).job!;
    expect(predict.model).toBe(`${model}/versions/2`);
    expect(predict.x).toMatchObject({ dataset: x, version: 2n, columns: ["a"], filter: "a > 0" });
    expect(predict.y).toBeUndefined();

    const latest = (await submit({ kind: JobKind.FIT, model: `${model}/versions/latest`, x: { dataset: x, version: 1n }, y: { dataset: y } })).job!;
    expect(latest.model).toBe(`${model}/versions/2`);
    expect(latest.x!.version).toBe(1n);
    expect(latest.y).toMatchObject({ dataset: y, version: 1n });

    await h.kiln.models.tag(`${modelId}:1`, "prod");
    const tagged = (await submit({ kind: JobKind.SCORE, model: `${model}/versions/prod`, x: { dataset: x }, y: { dataset: y } })).job!;
    expect(tagged.model).toBe(`${model}/versions/1`);

    // New versions after the submit leave the submitted jobs as they were.
    await makeRunnableTrainableModel(h, modelId);
    await h.kiln.datasets.put(x.split("/").at(-1)!, [{ a: 7, b: 8 }]);
    const stored = (await h.runtime.getJob({ name: predict.name })).job!;
    expect(stored.model).toBe(`${model}/versions/2`);
    expect(stored.x!.version).toBe(2n);
  });

  it("FIT takes a model with trainable state (kiln-ml format, or an ONNX model with the kiln-ml attachment)", async () => {
    const ds = await makeDataset(h);
    const kilnMl = await makeTrainableModel(h);
    const both = await makeRunnableTrainableModel(h);
    expect((await submit({ kind: JobKind.FIT, model: kilnMl, x: { dataset: ds } })).job!.model).toBe(`${kilnMl}/versions/1`);
    expect((await submit({ kind: JobKind.PARTIAL_FIT, model: both, x: { dataset: ds } })).job!.model).toBe(`${both}/versions/1`);
    expect((await submit({ kind: JobKind.PREDICT_PROBA, model: both, x: { dataset: ds } })).job!.state).toBe(JobState.QUEUED);
    expect((await submit({ kind: JobKind.TRANSFORM, model: both, x: { dataset: ds }, outputDataset: `${PROJECT}/datasets/out` })).job!.outputDataset).toBe(
      `${PROJECT}/datasets/out`,
    );
  });

  it("a NOOP job needs no model and no inputs, and keeps none it was given", async () => {
    const job = await submitNoop(h, { model: "projects/default/models/whatever", x: { dataset: "projects/default/datasets/missing" } });
    expect(job.model).toBe("");
    expect(job.x).toBeUndefined();
  });

  it("request_id makes a submit idempotent: the same id returns the first job, stored and queued once", async () => {
    const requestId = uniqueName("req");
    const first = await submitNoop(h, { requiredLabels: ["a"] }, requestId);
    const again = await submitNoop(h, { requiredLabels: ["a"] }, requestId);
    const different = await submitNoop(h, { requiredLabels: ["b"], maxAttempts: 7 }, requestId);
    expect(again).toEqual(first);
    expect(different).toEqual(first);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs.map((j) => j.name)).toEqual([first.name]);
    const queued = await queueMessagesSoFar(h.bus);
    expect(queued.map(queuedJobName)).toEqual([first.name]);
    expect((await eventsSoFar(h.bus)).map((e) => e.subject)).toEqual(["kiln.runtime.v1.job.queued"]);

    // Another key, or the same key in another project, is another job.
    const other = await submitNoop(h, {}, uniqueName("req"));
    expect(other.name).not.toBe(first.name);
    const elsewhere = (await h.runtime.submitJob({ parent: "projects/elsewhere", job: { kind: JobKind.NOOP }, requestId })).job!;
    expect(elsewhere.name).toMatch(/^projects\/elsewhere\/jobs\//);
  });

  it("publishes the job on the queue subject of its label set, where an executor with those labels takes it", async () => {
    const plain = await submitNoop(h);
    const gpu = await submitNoop(h, { requiredLabels: ["gpu"] });
    const gpuBig = await submitNoop(h, { requiredLabels: ["mem=big", "gpu"] });
    const gpuBigAgain = await submitNoop(h, { requiredLabels: ["gpu", "mem=big", "gpu"] });

    const messages = await queueMessagesSoFar(h.bus);
    expect(messages.map((m) => [m.subject, queuedJobName(m)])).toEqual([
      [queueFor([]).subject, plain.name],
      [queueFor(["gpu"]).subject, gpu.name],
      [queueFor(["gpu", "mem=big"]).subject, gpuBig.name],
      [queueFor(["gpu", "mem=big"]).subject, gpuBigAgain.name],
    ]);
    // The message id is the job name, so a retried publish is dropped by the bus.
    expect(messages.map((m) => m.headers["Nats-Msg-Id"])).toEqual([plain.name, gpu.name, gpuBig.name, gpuBigAgain.name]);
    expect(new Set(messages.map((m) => m.subject)).size).toBe(3);

    // The executor's view: its heartbeat names the queues; pulling one gives its jobs, in order.
    const { queues } = await h.executor.heartbeat({ executor: { name: "executors/e1", labels: ["mem=big", "gpu"], slots: 1 } });
    const big = queues.find((q) => q.labels.join(",") === "gpu,mem=big")!;
    expect(big).toMatchObject(queueFor(["gpu", "mem=big"]));
    const { sub, reader } = await pullQueue(h.bus, big);
    const a = await reader.take();
    a.ack();
    const b = await reader.take();
    b.ack();
    expect([queuedJobName(a), queuedJobName(b)]).toEqual([gpuBig.name, gpuBigAgain.name]);
    await sub.stop();
  });
});
