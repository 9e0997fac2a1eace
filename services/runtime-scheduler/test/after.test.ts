import { afterEach, describe, expect, it } from "vitest";
import { toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { linearRegressorOnnx } from "@kiln/onnx";
import { JobKind, JobSchema, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { requeueAfterRestart } from "../src/index.js";
import type { JobRecord } from "../src/job-store.js";
import { sweepSuccessors } from "../src/successors.js";
import {
  PROJECT,
  eventsSoFar,
  failure,
  makeDataset,
  makeOnnxModel,
  makeTrainableModel,
  withJobRecords,
  queueMessagesSoFar,
  queuedJobName,
  startHarness,
  submitNoop,
  uniqueName,
  type Harness,
  untilJob,
} from "./harness.js";

const E1 = "executors/e1";

describe("jobs that run after others", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const getJob = async (name: string) => (await h.runtime.getJob({ name })).job!;
  const queued = async () => (await queueMessagesSoFar(h.bus)).map(queuedJobName);

  /** Polls the job until `done` holds (settling runs after the change that ended the job before). */
  const until = (name: string, done: (job: Job) => boolean) => untilJob(h, name, done);

  async function succeed(job: Job): Promise<void> {
    const { attempt } = await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.finishAttempt({ name: job.name, attempt, outcome: { case: "result", value: {} } });
  }

  async function fail(job: Job, message: string): Promise<void> {
    const { attempt } = await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.finishAttempt({ name: job.name, attempt, outcome: { case: "error", value: { code: "INVALID_ARGUMENT", reason: "BAD", message } } });
  }

  it("waits off the queue until every job it runs after succeeded, then goes on its queue", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h);
    const c = await submitNoop(h, { after: [a.name, b.name, a.name] });
    expect(c.state).toBe(JobState.QUEUED);
    expect(c.after).toEqual([a.name, b.name]);
    expect(c.waitingFor).toEqual([a.name, b.name]);
    expect(await queued()).toEqual([a.name, b.name]);

    await succeed(a);
    expect((await until(c.name, (j) => j.waitingFor.length === 1)).waitingFor).toEqual([b.name]);
    expect(await queued()).not.toContain(c.name);

    await succeed(b);
    const ready = await until(c.name, (j) => j.waitingFor.length === 0);
    expect(ready.state).toBe(JobState.QUEUED);
    expect(ready.after).toEqual([a.name, b.name]);
    expect(await queued()).toContain(c.name);
    const released = (await eventsSoFar(h.bus)).filter((e) => e.subject === "kiln.runtime.v1.job.released");
    expect(released.map((e) => [e.event.job!.name, e.event.job!.waitingFor])).toEqual([[c.name, []]]);
    await succeed(ready);
    expect((await getJob(c.name)).state).toBe(JobState.SUCCEEDED);
  });

  it("after a job that already succeeded is queued at once", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    await succeed(a);
    const b = await submitNoop(h, { after: [a.name] });
    expect(b.waitingFor).toEqual([]);
    expect(await queued()).toContain(b.name);
  });

  it("fails when a job it runs after fails, and so do the jobs after it, none of them run", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h, { after: [a.name] });
    const c = await submitNoop(h, { after: [b.name] });
    await fail(a, "no good");
    const failed = await until(b.name, (j) => j.state === JobState.FAILED);
    expect(failed.error).toMatchObject({ code: "FAILED_PRECONDITION", reason: "AFTER_JOB_FAILED" });
    expect(failed.error!.message).toContain("no good");
    expect(failed.waitingFor).toEqual([]);
    expect(failed.attempts).toEqual([]);
    const cascaded = await until(c.name, (j) => j.state === JobState.FAILED);
    expect(cascaded.error!.reason).toBe("AFTER_JOB_FAILED");
    expect(await queued()).toEqual([a.name]);
  });

  it("is cancelled when a job it runs after is cancelled; cancelled itself, it stays so", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h, { after: [a.name] });
    await h.runtime.cancelJob({ name: a.name });
    const cancelled = await until(b.name, (j) => j.state === JobState.CANCELLED);
    expect(cancelled.error).toMatchObject({ code: "CANCELLED", reason: "AFTER_JOB_CANCELLED" });

    const d = await submitNoop(h);
    const e = await submitNoop(h, { after: [d.name] });
    await h.runtime.cancelJob({ name: e.name });
    await succeed(d);
    await until(d.name, (j) => j.state === JobState.SUCCEEDED);
    await new Promise((r) => setTimeout(r, 50));
    expect((await getJob(e.name)).state).toBe(JobState.CANCELLED);
    expect(await queued()).not.toContain(e.name);
  });

  it("refuses what could never run, storing nothing", async () => {
    h = await startHarness();
    const missing = `${PROJECT}/jobs/nosuchjob`;
    expect(await failure(submitNoop(h, { after: [missing] }))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await failure(submitNoop(h, { after: ["projects/other/jobs/x1"] }))).toMatchObject({ code: Code.InvalidArgument, reason: "CROSS_PROJECT" });
    expect(await failure(submitNoop(h, { after: ["not a job"] }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    const a = await submitNoop(h);
    const many = Array.from({ length: 101 }, (_, i) => `${PROJECT}/jobs/j${i}`);
    expect(await failure(submitNoop(h, { after: many }))).toMatchObject({ code: Code.InvalidArgument, reason: "TOO_MANY_AFTER" });
    await fail(a, "broken");
    const refused = await failure(submitNoop(h, { after: [a.name] }));
    expect(refused).toMatchObject({ code: Code.FailedPrecondition, reason: "AFTER_JOB_FAILED" });
    const c = await submitNoop(h);
    await h.runtime.cancelJob({ name: c.name });
    expect(await failure(submitNoop(h, { after: [c.name] }))).toMatchObject({ code: Code.FailedPrecondition, reason: "AFTER_JOB_CANCELLED" });
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs.map((j) => j.name).sort()).toEqual([a.name, c.name].sort());
  });

  it("in SubmitJobs, requests/{i} names the job of an earlier request of the same call: a graph submitted all or none", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const x = await makeDataset(h);
    const call = (requests: { job: Record<string, unknown>; requestId?: string }[]) =>
      h.runtime.submitJobs({ parent: PROJECT, requests: requests.map((r) => ({ job: r.job, requestId: r.requestId ?? "" })) });
    const { jobs } = await call([
      { job: { kind: JobKind.FIT, model, x: { dataset: x } } },
      { job: { kind: JobKind.PREDICT, model, x: { dataset: x }, after: ["requests/0"] } }, // an untrained model: accepted after its fit
      { job: { kind: JobKind.NOOP, after: ["requests/1", "requests/0"] } },
    ]);
    const [fit, predict, noop] = jobs;
    expect(predict!.after).toEqual([fit!.name]);
    expect(predict!.waitingFor).toEqual([fit!.name]);
    expect(predict!.model).toBe(`${model}/versions/latest`);
    expect(noop!.after).toEqual([predict!.name, fit!.name]);
    expect(await queued()).toEqual([fit!.name]);
    // What they keep names the call's jobs as stored (requests/0 is the fit), the fit once.
    const records = h.metadata.collection<JobRecord>("runtime_jobs");
    for (const job of [predict!, noop!]) expect((await records.get(job.name))!.value.nearestMakers).toEqual([fit!.name]);
    await h.kiln.models.put(model.split("/").at(-1)!, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" });
    const { attempt } = await h.executor.startAttempt({ name: fit!.name, executor: E1 });
    await h.executor.finishAttempt({ name: fit!.name, attempt, outcome: { case: "result", value: { modelVersion: `${model}/versions/2` } } });
    expect((await until(predict!.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/2`);
    expect((await getJob(noop!.name)).waitingFor).toEqual([predict!.name]);

    // A later request, or any in SubmitJob, cannot be named; a bad request stores none of the call's jobs.
    const before = (await h.runtime.listJobs({ parent: PROJECT })).jobs.length;
    expect(await failure(call([{ job: { kind: JobKind.NOOP, after: ["requests/1"] } }, { job: { kind: JobKind.NOOP } }]))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_AFTER" });
    expect(await failure(submitNoop(h, { after: ["requests/0"] }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_AFTER" });
    const refused = await failure(call([{ job: { kind: JobKind.NOOP } }, { job: { kind: JobKind.NOOP, after: ["requests/0"] } }, { job: { kind: JobKind.NOOP, maxAttempts: -1 } }]));
    expect(refused).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_MAX_ATTEMPTS" });
    expect(refused.message).toMatch(/^requests\[2\]/);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs.length).toBe(before);

    // A request_id seen before stands for the job it made: after one that succeeded, a job waits for nothing.
    const done = await submitNoop(h, {}, "prep");
    await succeed(done);
    const again = await call([{ job: { kind: JobKind.NOOP }, requestId: "prep" }, { job: { kind: JobKind.NOOP, after: ["requests/0"] } }]);
    expect(again.jobs[0]!.name).toBe(done.name);
    expect(again.jobs[1]).toMatchObject({ after: [done.name], waitingFor: [] });
    expect(await queued()).toContain(again.jobs[1]!.name);
  });

  it("a predict after a fit of its model uses the version the fit made", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const x = await makeDataset(h);
    const fit = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.FIT, model, x: { dataset: x } } })).job!;
    // An untrained model cannot predict, unless after the fit that trains it.
    expect(await failure(h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x } } }))).toMatchObject({ reason: "NOT_RUNNABLE" });
    const predict = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x }, after: [fit.name] } })).job!;
    expect(predict.model).toBe(`${model}/versions/latest`);
    expect(predict.x!.version).toBe(1n); // nothing before writes it: pinned now
    // Also after a job that itself waits for the fit.
    const then = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x }, after: [predict.name] } })).job!;
    expect(then.model).toBe(`${model}/versions/latest`);

    await h.kiln.models.put(model.split("/").at(-1)!, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" }); // what the fit's executor stores
    await succeed(fit);
    const released = await until(predict.name, (j) => j.waitingFor.length === 0);
    expect(released.model).toBe(`${model}/versions/2`);
    expect(await queued()).toContain(predict.name);
    await succeed(released);
    expect((await until(then.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/2`);
  });

  it("jobs after fits of one model side by side each run their own fit's version, not the latest", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const short = model.split("/").at(-1)!;
    const x = await makeDataset(h);
    const submit = async (kind: JobKind, after: string[] = []) => (await h.runtime.submitJob({ parent: PROJECT, job: { kind, model, x: { dataset: x }, after } })).job!;
    const [fit1, fit2] = [await submit(JobKind.FIT), await submit(JobKind.FIT)];
    const [p1, p2] = [await submit(JobKind.PREDICT, [fit1.name]), await submit(JobKind.PREDICT, [fit2.name])];
    const chained = await submit(JobKind.PREDICT, [p1.name]); // the fit is two steps back
    const refit = await submit(JobKind.PARTIAL_FIT, [fit2.name]); // trains on from fit2's version

    // What the fits' executors store: version 2 for fit1, then 3 for fit2, before either ends.
    for (const _ of [2, 3]) await h.kiln.models.put(short, linearRegressorOnnx([1, 2], 0.5), { format: "onnx", attachments: { "kiln-ml.json": new TextEncoder().encode("{}") } });
    const finish = async (job: Job, modelVersion: string) => {
      const { attempt } = await h.executor.startAttempt({ name: job.name, executor: E1 });
      await h.executor.finishAttempt({ name: job.name, attempt, outcome: { case: "result", value: { modelVersion } } });
    };
    await finish(fit2, `${model}/versions/3`);
    await finish(fit1, `${model}/versions/2`);
    expect((await until(p1.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/2`);
    expect((await until(p2.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/3`);
    expect((await until(refit.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/3`);
    await succeed(p1);
    expect((await until(chained.name, (j) => j.waitingFor.length === 0)).model).toBe(`${model}/versions/2`);
  });

  it("a job submitted after jobs that are over already reads what they made, not what came later", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const short = model.split("/").at(-1)!;
    const x = await makeDataset(h);
    const out = `${PROJECT}/datasets/${uniqueName("out")}`;
    const fit = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.FIT, model, x: { dataset: x } } })).job!;
    const transform = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model: await makeOnnxModel(h), x: { dataset: x }, outputDataset: out } })).job!;
    await h.kiln.models.put(short, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" }); // version 2, the fit's
    const { attempt } = await h.executor.startAttempt({ name: fit.name, executor: E1 });
    await h.executor.finishAttempt({ name: fit.name, attempt, outcome: { case: "result", value: { modelVersion: `${model}/versions/2` } } });
    await h.kiln.datasets.put(out.split("/").at(-1)!, [{ a: 1, b: 2, prediction: 5.5 }]); // version 1, the transform's
    const t = await h.executor.startAttempt({ name: transform.name, executor: E1 });
    await h.executor.finishAttempt({ name: transform.name, attempt: t.attempt, outcome: { case: "result", value: { rows: 1n, output: { name: out, version: 1n } } } });
    // Later: another version of each, made by no job this one runs after.
    await h.kiln.models.put(short, linearRegressorOnnx([3, 4], 0.5), { format: "onnx" });
    await h.kiln.datasets.put(out.split("/").at(-1)!, [{ a: 3, b: 4, prediction: 6.5 }], { mode: "append" });

    const after = [fit.name, transform.name];
    const predict = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: out, columns: ["a", "b"] }, after } })).job!;
    expect(predict.waitingFor).toEqual([]);
    expect(predict.model).toBe(`${model}/versions/2`);
    expect(predict.x!.version).toBe(1n);
    // Named versions stay as named; without an `after`, latest is the latest.
    const pinned = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model: `${model}/versions/3`, x: { dataset: out, version: 2n }, after } })).job!;
    expect([pinned.model, pinned.x!.version]).toEqual([`${model}/versions/3`, 2n]);
    const free = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: out, columns: ["a", "b"] } } })).job!;
    expect([free.model, free.x!.version]).toEqual([`${model}/versions/3`, 2n]);
    // After a job still to run that reads them pinned (the predict above, queued): what it reads, in one step.
    const next = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.SCORE, model, x: { dataset: out, columns: ["a", "b"] }, y: { dataset: out, columns: ["prediction"] }, after: [predict.name] } })).job!;
    expect(next.waitingFor).toEqual([predict.name]);
    expect([next.model, next.x!.version, next.y!.version]).toEqual([`${model}/versions/2`, 1n, 1n]);
  });

  it("a chain submitted while it waits reads the same few jobs at every submit: each job keeps the nearest jobs before it that make something", async () => {
    let reads = 0;
    h = await startHarness({
      schedulerMetadata: (metadata) =>
        withJobRecords(metadata, (records) => ({
          get: (key) => ((reads += 1), records.get(key)),
          getMany: (keys) => ((reads += keys.length), records.getMany(keys)),
        })),
    });
    const model = await makeTrainableModel(h);
    const x = await makeDataset(h);
    const submit = async (kind: JobKind, after: string[]) => (await h.runtime.submitJob({ parent: PROJECT, job: { kind, model, x: { dataset: x }, after } })).job!;
    const fit = await submit(JobKind.FIT, []);
    const readsPerSubmit: number[] = [];
    const chain: Job[] = [];
    let last = fit;
    for (let i = 0; i < 40; i++) {
      const before = reads;
      last = await submit(JobKind.PREDICT, [last.name]);
      readsPerSubmit.push(reads - before);
      chain.push(last);
    }
    // Every predict waits (the fit has not run), each still leaves the model to its fit.
    expect(last.waitingFor).toHaveLength(1);
    expect(last.model).toBe(`${model}/versions/latest`);
    // The 40th reads no more than the 2nd: the job before it, and the fit it keeps (a walk back through the chain read 40).
    expect(readsPerSubmit[39]).toBeLessThanOrEqual(readsPerSubmit[1]!);
    const records = h.metadata.collection<JobRecord>("runtime_jobs");
    expect((await records.get(last.name))!.value.nearestMakers).toEqual([fit.name]);

    // A fit after a fit of the same model is the nearer maker: the first is no longer kept.
    const refit = await submit(JobKind.PARTIAL_FIT, [last.name]);
    expect((await records.get(refit.name))!.value.nearestMakers).toEqual([fit.name]);
    const afterRefit = await submit(JobKind.PREDICT, [refit.name]);
    expect((await records.get(afterRefit.name))!.value.nearestMakers).toEqual([refit.name]);

    await h.kiln.models.put(model.split("/").at(-1)!, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" }); // what the fit's executor stores
    const { attempt } = await h.executor.startAttempt({ name: fit.name, executor: E1 });
    await h.executor.finishAttempt({ name: fit.name, attempt, outcome: { case: "result", value: { modelVersion: `${model}/versions/2` } } });
    const first = await until(chain[0]!.name, (j) => j.waitingFor.length === 0);
    expect(first.model).toBe(`${model}/versions/2`);
    // Released, a job keeps nothing: jobs submitted after it no longer look past it.
    expect((await records.get(first.name))!.value.nearestMakers).toBeUndefined();
  });

  it("a kept maker that succeeded since defers nothing, and a record that keeps none is walked through as before", async () => {
    h = await startHarness();
    const model = await makeTrainableModel(h);
    const x = await makeDataset(h);
    const submit = async (kind: JobKind, after: string[]) => (await h.runtime.submitJob({ parent: PROJECT, job: { kind, model, x: { dataset: x }, after } })).job!;
    const records = h.metadata.collection<JobRecord>("runtime_jobs");

    // p waits for the fit and for a no-op; it keeps the fit, which then succeeds while p still waits for the no-op.
    const fit = await submit(JobKind.FIT, []);
    const hold = await submitNoop(h);
    const p = await submit(JobKind.PREDICT, [fit.name, hold.name]);
    expect((await records.get(p.name))!.value.nearestMakers).toEqual([fit.name]);
    const trainable = { format: "onnx", attachments: { "kiln-ml.json": new TextEncoder().encode("{}") } };
    await h.kiln.models.put(model.split("/").at(-1)!, linearRegressorOnnx([1, 2], 0.5), trainable);
    const { attempt } = await h.executor.startAttempt({ name: fit.name, executor: E1 });
    await h.executor.finishAttempt({ name: fit.name, attempt, outcome: { case: "result", value: { modelVersion: `${model}/versions/2` } } });
    expect((await until(p.name, (j) => j.waitingFor.length === 1)).waitingFor).toEqual([hold.name]);
    // Nothing before q will train the model any more: q is pinned at submit, to the version the fit made.
    const q = await submit(JobKind.PREDICT, [p.name]);
    expect(q.model).toBe(`${model}/versions/2`);
    expect((await records.get(q.name))!.value.nearestMakers).toEqual([]);

    // A record written before jobs kept their makers: the jobs after it walk back through it to the fit.
    const refit = await submit(JobKind.PARTIAL_FIT, [hold.name]);
    const r = await submit(JobKind.PREDICT, [refit.name]);
    const stored = (await records.get(r.name))!;
    await records.update(r.name, { pb: stored.value.pb }, stored.rev);
    const s2 = await submit(JobKind.PREDICT, [r.name]);
    expect(s2.model).toBe(`${model}/versions/latest`);
    expect((await records.get(s2.name))!.value.nearestMakers).toEqual([refit.name]);
  });

  it("reads the output dataset a job before it writes, at the version it wrote; fails if that never came", async () => {
    h = await startHarness();
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    const out = `${PROJECT}/datasets/${uniqueName("out")}`;
    const transform = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x }, outputDataset: out } })).job!;
    const score = (
      await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.SCORE, model, x: { dataset: out, columns: ["a", "b"] }, y: { dataset: x, columns: ["a"] }, after: [transform.name] } })
    ).job!;
    expect(score.x).toMatchObject({ dataset: out, version: 0n });
    // The transform wrote version 1; someone else appended version 2 before it ended.
    await h.kiln.datasets.put(out.split("/").at(-1)!, [{ a: 1, b: 2, prediction: 5.5 }]);
    await h.kiln.datasets.put(out.split("/").at(-1)!, [{ a: 3, b: 4, prediction: 6.5 }], { mode: "append" });
    const { attempt } = await h.executor.startAttempt({ name: transform.name, executor: E1 });
    await h.executor.finishAttempt({ name: transform.name, attempt, outcome: { case: "result", value: { rows: 2n, output: { name: out, version: 1n } } } });
    expect((await until(score.name, (j) => j.waitingFor.length === 0)).x!.version).toBe(1n);

    // A dataset nothing before writes must exist at submit.
    expect(await failure(h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.SCORE, model, x: { dataset: `${out}x` }, y: { dataset: x }, after: [transform.name] } }))).toMatchObject({
      code: Code.NotFound,
    });

    const never = `${PROJECT}/datasets/${uniqueName("never")}`;
    const t2 = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x }, outputDataset: never } })).job!;
    const p2 = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: never }, after: [t2.name] } })).job!;
    await succeed(t2);
    const failed = await until(p2.name, (j) => j.state === JobState.FAILED);
    expect(failed.error!.code).toBe("NOT_FOUND");
    expect(await queued()).not.toContain(p2.name);
  });

  it("a settle the scheduler missed (it stopped, or the registry was away) is done by the sweep", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h, { after: [a.name] });
    // a ends as a scheduler that stopped before telling b would leave it: stored, nothing else.
    const jobs = h.metadata.collection<{ pb: string }>("runtime_jobs");
    const stored = (await jobs.get(a.name))!;
    const ended: Job = { ...a, state: JobState.SUCCEEDED };
    await jobs.update(a.name, { pb: Buffer.from(toBinary(JobSchema, ended)).toString("base64") }, stored.rev);
    await new Promise((r) => setTimeout(r, 50));
    expect((await getJob(b.name)).waitingFor).toEqual([a.name]);

    // A restart on the in-process bus leaves a waiting job off its queue.
    expect(await requeueAfterRestart(h.scheduler)).toBe(0);
    expect(await queued()).not.toContain(b.name);

    await sweepSuccessors(h.scheduler);
    expect((await getJob(b.name)).waitingFor).toEqual([]);
    expect(await queued()).toContain(b.name);
    expect(await h.metadata.collection("runtime_job_successors").list({})).toEqual([]);
  });

  it("a store away when the job before ends leaves the job waiting, and the sweep releases it once the store is back", async () => {
    let storeAway = false;
    h = await startHarness({
      schedulerStore: (store) => ({
        ...store,
        getDatasetVersion: async (req) => {
          if (storeAway) throw new ConnectError("store unavailable", Code.Unavailable);
          return store.getDatasetVersion(req);
        },
      }),
    });
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    const out = `${PROJECT}/datasets/${uniqueName("out")}`;
    const transform = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: x }, outputDataset: out } })).job!;
    const next = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: out, columns: ["a", "b"] }, after: [transform.name] } })).job!;
    await h.kiln.datasets.put(out.split("/").at(-1)!, [{ a: 1, b: 2, prediction: 5.5 }]);
    storeAway = true;
    await succeed(transform);
    await new Promise((r) => setTimeout(r, 100));
    const waiting = await getJob(next.name);
    expect(waiting.state).toBe(JobState.QUEUED); // not failed: the store may come back
    expect(waiting.waitingFor).toEqual([transform.name]);
    expect(await queued()).not.toContain(next.name);

    storeAway = false;
    await sweepSuccessors(h.scheduler);
    const released = await getJob(next.name);
    expect(released.waitingFor).toEqual([]);
    expect(released.x!.version).toBe(1n);
    expect(await queued()).toContain(next.name);
  });

  it("deleting a job that waited removes its index entries", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h, { after: [a.name] });
    await h.runtime.cancelJob({ name: b.name });
    await h.runtime.deleteJob({ name: b.name });
    expect(await h.metadata.collection("runtime_job_successors").list({})).toEqual([]);
    await succeed(a);
    expect((await until(a.name, (j) => j.state === JobState.SUCCEEDED)).state).toBe(JobState.SUCCEEDED);
  });
});
