import { afterEach, describe, expect, it } from "vitest";
import { toJson } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { JobKind, JobSchema, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import {
  PROJECT,
  eventsSoFar,
  failingQueuePublishes,
  failure,
  makeDataset,
  makeOnnxModel,
  queueMessagesSoFar,
  queuedJobName,
  startHarness,
  submitNoop,
  uniqueName,
  type Harness,
} from "./harness.js";

const E1 = "executors/e1";

describe("SubmitJobs", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  /** Nothing of a call survives: no job, no idempotency claim, no queue message, no event. */
  async function expectNothingStored(): Promise<void> {
    for (const collection of ["runtime_jobs", "runtime_requests"]) {
      expect(await h.metadata.collection(collection).list(), collection).toEqual([]);
    }
    expect(await queueMessagesSoFar(h.bus)).toEqual([]);
    expect(await eventsSoFar(h.bus)).toEqual([]);
  }

  it("queues the jobs in the order given, each stored, queued and announced once", async () => {
    h = await startHarness();
    const { jobs } = await h.runtime.submitJobs({
      parent: PROJECT,
      requests: Array.from({ length: 50 }, (_, i) => ({ job: { kind: JobKind.NOOP, params: { i }, requiredLabels: i % 2 ? ["gpu"] : [] } })),
    });
    expect(jobs.map((j) => j.params?.i)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(jobs.every((j) => j.state === JobState.QUEUED && j.createTime !== undefined)).toBe(true);
    expect(new Set(jobs.map((j) => j.name)).size).toBe(50);
    // Ids sort in submit order, so the newest-first listing is the reverse of the call.
    expect((await h.runtime.listJobs({ parent: PROJECT, pageSize: 100 })).jobs.map((j) => j.name)).toEqual(jobs.map((j) => j.name).reverse());
    expect((await queueMessagesSoFar(h.bus)).map(queuedJobName).sort()).toEqual(jobs.map((j) => j.name).sort());
    const events = await eventsSoFar(h.bus);
    expect(events.map((e) => e.event.job!.name)).toEqual(jobs.map((j) => j.name));
    expect(new Set(events.map((e) => e.subject))).toEqual(new Set(["kiln.runtime.v1.job.queued"]));
    expect(events[3]!.event.job).toEqual(jobs[3]);
    expect(events[3]!.event.time).toBeDefined();
  });

  it("request_ids: one seen before returns its job; the same id twice in a call makes one job", async () => {
    h = await startHarness();
    const earlier = await submitNoop(h, {}, "first");
    const { jobs } = await h.runtime.submitJobs({
      parent: PROJECT,
      requests: [
        { job: { kind: JobKind.NOOP }, requestId: "first" },
        { job: { kind: JobKind.NOOP }, requestId: "twice" },
        { job: { kind: JobKind.NOOP } },
        { job: { kind: JobKind.NOOP, maxAttempts: 9 }, requestId: "twice" },
      ],
    });
    expect(jobs[0]).toEqual(earlier);
    expect(jobs[3]).toEqual(jobs[1]);
    expect(jobs[2]!.name).not.toBe(jobs[1]!.name);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toHaveLength(3);
    const again = await h.runtime.submitJobs({ parent: PROJECT, requests: [{ job: { kind: JobKind.NOOP }, requestId: "twice" }] });
    expect(again.jobs[0]!.name).toBe(jobs[1]!.name);
  });

  it("one bad request fails the call naming its index, with its code and reason, and nothing is stored", async () => {
    h = await startHarness();
    const ds = await makeDataset(h);
    const onnx = await makeOnnxModel(h);
    const good = { job: { kind: JobKind.PREDICT, model: onnx, x: { dataset: ds } } };
    const cases = [
      { bad: { job: { kind: JobKind.NOOP, requiredLabels: ["has space"] } }, code: Code.InvalidArgument, reason: "INVALID_LABEL" },
      { bad: { job: { kind: JobKind.PREDICT, model: `${PROJECT}/models/${uniqueName("nope")}`, x: { dataset: ds } } }, code: Code.NotFound, reason: "MODEL_NOT_FOUND" },
      { bad: { job: { kind: JobKind.NOOP }, parent: "projects/other" }, code: Code.InvalidArgument, reason: "PARENT_MISMATCH" },
      { bad: { job: { kind: JobKind.NOOP }, requestId: "no/slashes" }, code: Code.InvalidArgument, reason: "INVALID_NAME" },
    ];
    for (const c of cases) {
      const err = await failure(h.runtime.submitJobs({ parent: PROJECT, requests: [good, good, c.bad, good] }));
      expect({ code: Code[err.code], reason: err.reason }, c.reason).toEqual({ code: Code[c.code], reason: c.reason });
      expect(err.message).toContain("requests[2]: ");
    }
    const tooMany = await failure(h.runtime.submitJobs({ parent: PROJECT, requests: Array.from({ length: 1001 }, () => ({ job: { kind: JobKind.NOOP } })) }));
    expect({ code: tooMany.code, reason: tooMany.reason }).toEqual({ code: Code.InvalidArgument, reason: "TOO_MANY_JOBS" });
    await expectNothingStored();
    expect((await h.runtime.submitJobs({ parent: PROJECT, requests: [] })).jobs).toEqual([]);
  });

  it("if any job cannot be queued, none stays and the request_ids are free again", async () => {
    let published = 0;
    h = await startHarness({ schedulerBus: failingQueuePublishes(() => ++published === 3) });
    const requests = Array.from({ length: 5 }, (_, i) => ({ job: { kind: JobKind.NOOP }, requestId: `r${i}` }));
    expect((await failure(h.runtime.submitJobs({ parent: PROJECT, requests }))).code).toBe(Code.Internal);
    expect(await h.metadata.collection("runtime_jobs").list()).toEqual([]);
    expect(await h.metadata.collection("runtime_requests").list()).toEqual([]);
    // The four messages that went out name jobs that no longer exist: executors drop them.
    const { results } = await h.executor.startAttempts({ requests: (await queueMessagesSoFar(h.bus)).map((m) => ({ name: queuedJobName(m), executor: E1 })) });
    expect(results.map((r) => r.outcome.case === "error" && r.outcome.value.reason)).toEqual(["JOB_NOT_FOUND", "JOB_NOT_FOUND", "JOB_NOT_FOUND", "JOB_NOT_FOUND"]);

    const { jobs } = await h.runtime.submitJobs({ parent: PROJECT, requests });
    expect(jobs.map((j) => j.state)).toEqual(Array(5).fill(JobState.QUEUED));
  });
});

describe("StartAttempts and FinishAttempts", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("answer each request in order on its own: a missing or misnamed job fails only its own item", async () => {
    h = await startHarness();
    const a = await submitNoop(h);
    const b = await submitNoop(h);
    const missing = `${PROJECT}/jobs/${uniqueName("gone")}`;
    const started = await h.executor.startAttempts({
      requests: [
        { name: a.name, executor: E1 },
        { name: missing, executor: E1 },
        { name: "jobs/bad", executor: E1 },
        { name: b.name, executor: E1 },
      ],
    });
    const outcome = (r: (typeof started.results)[number]) =>
      r.outcome.case === "response" ? { run: r.outcome.value.run, attempt: r.outcome.value.attempt, state: r.outcome.value.job!.state } : { code: r.outcome.value!.code, reason: r.outcome.value!.reason };
    expect(started.results.map(outcome)).toEqual([
      { run: true, attempt: 1, state: JobState.RUNNING },
      { code: "NOT_FOUND", reason: "JOB_NOT_FOUND" },
      { code: "INVALID_ARGUMENT", reason: "INVALID_NAME" },
      { run: true, attempt: 1, state: JobState.RUNNING },
    ]);

    const finished = await h.executor.finishAttempts({
      requests: [
        { name: a.name, attempt: 1, outcome: { case: "result", value: {} } },
        { name: b.name, attempt: 7, outcome: { case: "result", value: {} } }, // not its current attempt: changes nothing
        { name: missing, attempt: 1, outcome: { case: "result", value: {} } },
      ],
    });
    expect(finished.results.map((r) => (r.outcome.case === "response" ? r.outcome.value.job!.state : r.outcome.value!.reason))).toEqual([
      JobState.SUCCEEDED,
      JobState.RUNNING,
      "JOB_NOT_FOUND",
    ]);
    expect((await h.runtime.getJob({ name: b.name })).job!.state).toBe(JobState.RUNNING);
    const events = (await eventsSoFar(h.bus)).map((e) => `${e.event.job!.name === a.name ? "a" : "b"}:${e.subject.split(".").at(-1)}`);
    expect(events).toEqual(["a:queued", "b:queued", "a:started", "b:started", "a:succeeded"]);
  });

  it("the same job twice in one batch: both claims apply, one after the other (the second finds the first's attempt lost)", async () => {
    h = await startHarness();
    const job = await submitNoop(h);
    const { results } = await h.executor.startAttempts({ requests: [{ name: job.name, executor: E1 }, { name: job.name, executor: "executors/e2" }] });
    const attempts = results.map((r) => (r.outcome.case === "response" ? r.outcome.value.attempt : 0)).sort();
    expect(attempts).toEqual([1, 2]);
    const stored = (await h.runtime.getJob({ name: job.name })).job!;
    expect(stored.attempts).toHaveLength(2);
    expect(stored.attempts[0]!.error?.reason).toBe("EXECUTOR_LOST");
  });
});

describe("job records", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("a record stored in the JSON form (before binary records) still reads and changes", async () => {
    h = await startHarness();
    const job = await submitNoop(h);
    const jobs = h.metadata.collection<{ job?: unknown; pb?: string }>("runtime_jobs");
    const stored = (await jobs.get(job.name))!;
    expect(stored.value.pb).toBeTypeOf("string");
    await jobs.update(job.name, { job: toJson(JobSchema, job) }, stored.rev);

    expect((await h.runtime.getJob({ name: job.name })).job).toEqual(job);
    const start = await h.executor.startAttempt({ name: job.name, executor: E1 });
    expect(start).toMatchObject({ run: true, attempt: 1 });
    const after = (await jobs.get(job.name))!.value;
    expect(after.pb).toBeTypeOf("string");
    expect(((await h.runtime.getJob({ name: job.name })).job as Job).state).toBe(JobState.RUNNING);
  });
});
