import { afterEach, describe, expect, it } from "vitest";
import { create, fromJson, type MessageInitShape } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { jobOutputComment, END_HEADER, RESULTS_SUBJECT_PREFIX, SEQ_HEADER } from "@kiln/contracts";
import { linearRegressorOnnx } from "@kiln/onnx";
import { JobKind, JobResultSchema, JobState, type Job, type JobSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import {
  PROJECT,
  Reader,
  eventsSoFar,
  failure,
  makeDataset,
  makeOnnxModel,
  makeTrainableModel,
  queueMessagesSoFar,
  queuedJobName,
  startHarness,
  submitNoop,
  uniqueName,
  type Harness,
  untilJob,
} from "./harness.js";

const E1 = "executors/e1";
const ROWS = [{ a: 1, b: 2 }, { a: 3, b: 4 }];
type JobInit = MessageInitShape<typeof JobSchema>;
type ResultInit = MessageInitShape<typeof JobResultSchema>;

describe("reusing an earlier job's result (Job.reuse)", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const submit = async (job: JobInit) => (await h.runtime.submitJob({ parent: PROJECT, job })).job!;
  const getJob = async (name: string) => (await h.runtime.getJob({ name })).job!;
  const queued = async () => (await queueMessagesSoFar(h.bus)).map(queuedJobName);

  /** What an executor does with a job: takes it and reports this result. */
  async function run(job: Job, result: ResultInit = {}): Promise<Job> {
    const { attempt } = await h.executor.startAttempt({ name: job.name, executor: E1 });
    const { job: done } = await h.executor.finishAttempt({ name: job.name, attempt, outcome: { case: "result", value: create(JobResultSchema, result) } });
    return done!;
  }

  const until = (name: string, done: (job: Job) => boolean) => untilJob(h, name, done);

  async function scoreJob(extra: JobInit = {}): Promise<JobInit> {
    return <JobInit>{ kind: JobKind.SCORE, model: await makeOnnxModel(h), x: { dataset: await makeDataset(h) }, y: { dataset: await makeDataset(h, [{ y: 1 }, { y: 2 }]) }, ...extra };
  }

  it("a job doing the same work as one that succeeded ends at once with its result, without running", async () => {
    h = await startHarness();
    const spec = await scoreJob();
    const first = await submit(spec);
    expect(first.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(first.reuse).toBe(false);
    await run(first, { metrics: { r2: 0.75 } });

    const again = await submit({ ...spec, reuse: true });
    expect(again.state).toBe(JobState.SUCCEEDED);
    expect(again.reusedFrom).toBe(first.name);
    expect(again.fingerprint).toBe(first.fingerprint);
    expect(again.result?.metrics).toEqual({ r2: 0.75 });
    expect(again.attempts).toEqual([]);
    expect(again.progress?.fraction).toBe(1);
    expect(again.startTime).toEqual(again.endTime);
    expect(await queued()).not.toContain(again.name);
    const events = (await eventsSoFar(h.bus)).filter((e) => e.event.job?.name === again.name).map((e) => e.subject);
    expect(events).toEqual(["kiln.runtime.v1.job.succeeded"]);
    // Its record says so when read again, and lists keep it as any succeeded job.
    expect((await getJob(again.name)).reusedFrom).toBe(first.name);

    // Without reuse the same work runs again.
    const runs = await submit(spec);
    expect(runs.state).toBe(JobState.QUEUED);
    expect(runs.fingerprint).toBe(first.fingerprint);
    expect(await queued()).toContain(runs.name);
  });

  it("inputs count by content; params, columns, filters, kind and model change the fingerprint; labels, timeout and attempts do not", async () => {
    h = await startHarness();
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h, ROWS);
    const base: JobInit = { kind: JobKind.PREDICT, model, x: { dataset: x } };
    const fp = async (job: JobInit) => (await submit(job)).fingerprint;
    const reference = await fp(base);
    expect(await fp({ ...base, x: { dataset: await makeDataset(h, ROWS) } })).toBe(reference); // the same rows under another name
    expect(await fp({ ...base, requiredLabels: ["gpu"], maxAttempts: 1, timeout: { seconds: 5n } })).toBe(reference);
    const different = [
      await fp({ ...base, x: { dataset: await makeDataset(h, [{ a: 1, b: 2 }, { a: 3, b: 5 }]) } }),
      await fp({ ...base, x: { dataset: await makeDataset(h, [{ a: 1, c: 2 }, { a: 3, c: 4 }]) } }), // same values, other column names
      await fp({ ...base, x: { dataset: x, filter: "a > 1" } }),
      await fp({ ...base, x: { dataset: x, columns: ["b", "a"] } }),
      await fp({ ...base, kind: JobKind.TRANSFORM }),
      await fp({ ...base, keepColumns: ["a"] }),
      await fp({ ...base, outputDataset: `${PROJECT}/datasets/${uniqueName("out")}` }),
      await fp({ ...base, model: await makeOnnxModel(h) }), // the same file as another model's version
    ];
    expect(new Set([reference, ...different]).size).toBe(different.length + 1);

    const trainable = `${await makeTrainableModel(h)}/versions/1`;
    const params = async (p: Record<string, unknown>) => fp({ ...base, kind: JobKind.FIT, model: trainable, params: p as never });
    expect(await params({ a: 1, b: [1, 2] })).toBe(await params({ b: [1, 2], a: 1 })); // key order does not matter
    expect(await params({ a: 1 })).not.toBe(await params({ a: 2 }));
    expect((await submitNoop(h)).fingerprint).toBe("");
  });

  it("a fit reuses the version an earlier fit made only while that version is there", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const spec: JobInit = { kind: JobKind.FIT, model: `${model}/versions/1`, x: { dataset: await makeDataset(h) }, y: { dataset: await makeDataset(h, [{ y: 1 }, { y: 2 }]) }, reuse: true };
    const first = await submit(spec);
    expect(first.state).toBe(JobState.QUEUED); // nothing to reuse yet
    const modelId = model.split("/").at(-1)!;
    const made = await h.kiln.models.put(modelId, linearRegressorOnnx([1, 2], 0.5), { format: "onnx", lineage: { trainingJob: first.name } });
    await run(first, { modelVersion: made.name, metrics: { training_score: 0.5 } });

    const again = await submit(spec);
    expect(again.state).toBe(JobState.SUCCEEDED);
    expect(again.result?.modelVersion).toBe(made.name);

    // The model dropped and made again: version 2 exists again, but another job made it.
    await h.kiln.models.drop(modelId);
    await makeTrainableModel(h, modelId);
    await h.kiln.models.put(modelId, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" });
    const fresh = await submit(spec);
    expect(fresh.fingerprint).toBe(first.fingerprint); // the same definition, the same data
    expect(fresh.state).toBe(JobState.QUEUED);
  });

  it("a predict that wrote an output dataset is reused while the version it wrote is there; its results are the earlier job's", async () => {
    h = await startHarness();
    const out = uniqueName("out");
    const spec: JobInit = { kind: JobKind.PREDICT, model: await makeOnnxModel(h), x: { dataset: await makeDataset(h) }, outputDataset: `${PROJECT}/datasets/${out}`, reuse: true };
    const first = await submit(spec);
    const id = first.name.split("/").at(-1)!;
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${id}`, new TextEncoder().encode("rows"), { headers: { [SEQ_HEADER]: "0" } });
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${id}`, new Uint8Array(), { headers: { [END_HEADER]: "1" } });
    const written = await h.kiln.datasets.put(out, [{ prediction: 1 }, { prediction: 2 }], { comment: jobOutputComment(first.name) });
    await run(first, { rows: 2n, output: { name: `${PROJECT}/datasets/${out}`, version: BigInt(written.version) } });

    const again = await submit(spec);
    expect(again.state).toBe(JobState.SUCCEEDED);
    expect(again.result?.output?.version).toBe(BigInt(written.version));
    expect((await h.kiln.datasets.info(out)).latestVersion).toBe(written.version); // nothing appended
    const chunks = new Reader(h.runtime.readJobResults({ name: again.name }));
    expect(new TextDecoder().decode((await chunks.take()).chunk?.arrowIpc)).toBe("rows");
    await chunks.end();

    // Results past their time: the reused job says where they went, naming whose they were.
    h.clock.advance(h.scheduler.settings.resultsTtlMs + 1);
    const expired = await failure(new Reader(h.runtime.readJobResults({ name: again.name })).take());
    expect(expired.reason).toBe("RESULTS_EXPIRED");
    expect(expired.message).toContain(`those of ${first.name}`);
    expect(expired.message).toContain(`written to ${PROJECT}/datasets/${out}`);
    // The version is still there, so a later job still reuses it.
    expect((await submit(spec)).state).toBe(JobState.SUCCEEDED);

    // Dropped and written again by someone else: version 1 is another's now.
    await h.kiln.datasets.drop(out);
    await h.kiln.datasets.put(out, [{ prediction: 1 }, { prediction: 2 }]);
    expect((await submit(spec)).state).toBe(JobState.QUEUED);
  });

  it("a predict without an output dataset is reused only while its results are kept", async () => {
    h = await startHarness();
    const spec: JobInit = { kind: JobKind.PREDICT, model: await makeOnnxModel(h), x: { dataset: await makeDataset(h) }, reuse: true };
    const first = await submit(spec);
    await run(first, { rows: 2n });
    expect((await submit(spec)).reusedFrom).toBe(first.name);
    h.clock.advance(h.scheduler.settings.resultsTtlMs - 30_000); // 30 s left: too little for a reader
    const late = await submit(spec);
    expect(late.state).toBe(JobState.QUEUED);
    // The latest job that ran is the one reused from then on.
    await run(late, { rows: 2n });
    expect((await submit(spec)).reusedFrom).toBe(late.name);
  });

  it("a job that waits looks for a result to reuse when it leaves the wait, and the jobs after it go on", async () => {
    h = await startHarness();
    const spec = await scoreJob({ reuse: true });
    const earlier = await submit(spec);
    await run(earlier, { metrics: { r2: 0.5 } });

    const gate = await submitNoop(h);
    const waiting = await submit({ ...spec, after: [gate.name] });
    expect(waiting.fingerprint).toBe(earlier.fingerprint); // pinned at submit: the gate makes nothing it reads
    const last = await submitNoop(h, { after: [waiting.name] });
    expect(waiting.state).toBe(JobState.QUEUED);
    await run(gate);
    const reused = await until(waiting.name, (j) => j.state === JobState.SUCCEEDED);
    expect(reused.reusedFrom).toBe(earlier.name);
    expect(reused.result?.metrics).toEqual({ r2: 0.5 });
    await until(last.name, (j) => j.waitingFor.length === 0);
    expect(await queued()).toContain(last.name);
    expect(await queued()).not.toContain(waiting.name);
  });

  it("in one SubmitJobs call, jobs after a reused one are pinned and reused in turn", async () => {
    h = await startHarness();
    const spec = await scoreJob({ reuse: true });
    const done = await submit(spec);
    await run(done, { metrics: { r2: 0.25 } });
    const { jobs } = await h.runtime.submitJobs({
      parent: PROJECT,
      requests: [{ job: spec }, { job: { ...spec, after: ["requests/0"] } }, { job: { kind: JobKind.NOOP, after: ["requests/1"] } }],
    });
    expect(jobs[0]!.state).toBe(JobState.SUCCEEDED);
    const second = await until(jobs[1]!.name, (j) => j.state === JobState.SUCCEEDED);
    expect(second.reusedFrom).toBe(done.name);
    await until(jobs[2]!.name, (j) => j.waitingFor.length === 0);
  });

  it("local data counts by content too, and the temporary dataset it travelled as goes at once", async () => {
    h = await startHarness();
    const model = await makeOnnxModel(h);
    const spec: JobInit = { kind: JobKind.PREDICT, model, x: { local: { case: "data", value: fromJson(ValueSchema, [[1, 2], [3, 4]]) } }, reuse: true };
    const first = await submit(spec);
    await run(first, { rows: 2n });
    const again = await submit(spec);
    expect(again.reusedFrom).toBe(first.name);
    expect(again.x?.temporary).toBe(true);
    for (let i = 0; ; i++) {
      const gone = await h.store.getDataset({ name: again.x!.dataset }).then(() => false, () => true);
      if (gone) break;
      if (i > 200) throw new Error("the reused job's temporary input was not dropped");
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  it("a deleted job's result is not reused; a failed one never is", async () => {
    h = await startHarness();
    const spec = await scoreJob({ reuse: true });
    const first = await submit(spec);
    await run(first, { metrics: { r2: 0.5 } });
    await h.runtime.deleteJob({ name: first.name });
    const second = await submit(spec);
    expect(second.state).toBe(JobState.QUEUED);
    const { attempt } = await h.executor.startAttempt({ name: second.name, executor: E1 });
    await h.executor.finishAttempt({ name: second.name, attempt, outcome: { case: "error", value: { code: "INVALID_ARGUMENT", reason: "BAD", message: "no" } } });
    expect((await getJob(second.name)).state).toBe(JobState.FAILED);
    expect((await submit(spec)).state).toBe(JobState.QUEUED);
    const missing = await failure(h.runtime.getJob({ name: first.name }));
    expect(missing.code).toBe(Code.NotFound);
  });
});
