import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code } from "@connectrpc/connect";
import { JobKind, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { linearRegressorOnnx } from "@kiln/onnx";
import { PROJECT, Reader, collect, eventsSoFar, failure, makeDataset, makeOnnxModel, startHarness, submitNoop, withJobRecords, type Harness } from "./harness.js";

const E1 = "executors/e1";

describe("ListJobs", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  /** Jobs submitted a millisecond apart or more, so "newest first" is well defined. */
  async function later<T>(submit: () => Promise<T>): Promise<T> {
    h.clock.advance(5);
    return submit();
  }

  const names = (jobs: Job[]) => jobs.map((j) => j.name);

  it("filters by one version of a model, by number or by tag as it points now", async () => {
    const ds = await makeDataset(h);
    const model = await makeOnnxModel(h);
    const id = model.split("/").pop()!;
    const predict = (ref: string) => later(async () => (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model: ref, x: { dataset: ds } } })).job!);
    const first = await predict(model); // version 1, the latest then
    await h.kiln.models.put(id, linearRegressorOnnx([3, 4], 0.5), { format: "onnx", tags: ["prod"] });
    const second = await predict(model); // version 2
    const list = async (ref: string) => names((await h.runtime.listJobs({ parent: PROJECT, model: ref })).jobs);
    expect(await list(model)).toEqual([second.name, first.name]);
    expect(await list(`${model}/versions/1`)).toEqual([first.name]);
    expect(await list(`${model}/versions/2`)).toEqual([second.name]);
    expect(await list(`${model}/versions/prod`)).toEqual([second.name]);
    expect(await list(`${model}/versions/3`)).toEqual([]);
    expect((await failure(h.runtime.listJobs({ parent: PROJECT, model: `${model}/versions/nosuchtag` }))).code).toBe(Code.NotFound);
  });

  it("lists newest first, filters by state, model and label, and pages", async () => {
    const ds = await makeDataset(h);
    const m1 = await makeOnnxModel(h);
    const m2 = await makeOnnxModel(h);
    const predict = (model: string, labels: string[] = []) =>
      later(async () => (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.PREDICT, model, x: { dataset: ds }, requiredLabels: labels } })).job!);

    const a = await predict(m1, ["gpu"]);
    const b = await predict(m2);
    const c = await later(() => submitNoop(h, { requiredLabels: ["gpu", "big"] }));
    const d = await predict(`${m1}/versions/1`);
    const e = await later(() => submitNoop(h));
    // States: a running, b succeeded, c cancelled, d and e queued.
    await h.executor.startAttempt({ name: a.name, executor: E1 });
    await h.executor.startAttempt({ name: b.name, executor: E1 });
    await h.executor.finishAttempt({ name: b.name, attempt: 1, outcome: { case: "result", value: { rows: 2n } } });
    await h.runtime.cancelJob({ name: c.name });

    const all = await h.runtime.listJobs({ parent: PROJECT });
    expect(names(all.jobs)).toEqual([e, d, c, b, a].map((j) => j.name));
    expect(all.nextPageToken).toBe("");
    expect(all.jobs.map((j) => j.state)).toEqual([JobState.QUEUED, JobState.QUEUED, JobState.CANCELLED, JobState.SUCCEEDED, JobState.RUNNING]);

    const list = async (req: Parameters<typeof h.runtime.listJobs>[0]) => names((await h.runtime.listJobs({ parent: PROJECT, ...req })).jobs);
    expect(await list({ states: [JobState.QUEUED] })).toEqual([e.name, d.name]);
    expect(await list({ states: [JobState.RUNNING, JobState.SUCCEEDED] })).toEqual([b.name, a.name]);
    expect(await list({ states: [JobState.FAILED] })).toEqual([]);
    expect(await list({ model: m1 })).toEqual([d.name, a.name]);
    expect(await list({ model: `${m1}/versions/1` })).toEqual([d.name, a.name]); // its only version
    expect(await list({ model: m2 })).toEqual([b.name]);
    expect(await list({ label: "gpu" })).toEqual([c.name, a.name]);
    expect(await list({ label: "big" })).toEqual([c.name]);
    expect(await list({ model: m1, label: "gpu", states: [JobState.RUNNING] })).toEqual([a.name]);
    expect(await list({ model: m1, states: [JobState.SUCCEEDED] })).toEqual([]);
    // Another project's jobs are not listed here, nor these there.
    await h.runtime.submitJob({ parent: "projects/other", job: { kind: JobKind.NOOP } });
    expect(await list({})).toHaveLength(5);
    expect((await h.runtime.listJobs({ parent: "projects/other" })).jobs).toHaveLength(1);

    // Pages of two, in the same order, and the filter rides along.
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await h.runtime.listJobs({ parent: PROJECT, pageSize: 2, pageToken });
      expect(page.jobs.length).toBeLessThanOrEqual(2);
      seen.push(...names(page.jobs));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(seen).toEqual([e, d, c, b, a].map((j) => j.name));
    expect(pages).toBe(3);

    const first = await h.runtime.listJobs({ parent: PROJECT, pageSize: 1, states: [JobState.QUEUED, JobState.RUNNING] });
    expect(names(first.jobs)).toEqual([e.name]);
    const second = await h.runtime.listJobs({ parent: PROJECT, pageSize: 1, states: [JobState.RUNNING, JobState.QUEUED], pageToken: first.nextPageToken });
    expect(names(second.jobs)).toEqual([d.name]);
    const third = await h.runtime.listJobs({ parent: PROJECT, pageSize: 1, states: [JobState.QUEUED, JobState.RUNNING], pageToken: second.nextPageToken });
    expect(names(third.jobs)).toEqual([a.name]);
    expect(third.nextPageToken).toBe("");
    // A token is bound to its filter.
    expect((await failure(h.runtime.listJobs({ parent: PROJECT, pageSize: 1, label: "gpu", pageToken: first.nextPageToken }))).code).toBe(Code.InvalidArgument);
  });

  it("rejects a bad parent, model filter or page token", async () => {
    expect((await failure(h.runtime.listJobs({ parent: "nope" }))).code).toBe(Code.InvalidArgument);
    expect((await failure(h.runtime.listJobs({ parent: PROJECT, model: "models/x" }))).reason).toBe("INVALID_MODEL");
    expect((await failure(h.runtime.listJobs({ parent: PROJECT, pageToken: "garbage!" }))).code).toBe(Code.InvalidArgument);
  });
});

describe("WatchJob", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  it("streams the job as it is, then every change, and ends after the final state", async () => {
    const job = await submitNoop(h);
    const watch = new Reader(h.runtime.watchJob({ name: job.name }));
    expect((await watch.take()).job).toEqual(job);

    const started = (await h.executor.startAttempt({ name: job.name, executor: E1 })).job!;
    expect((await watch.take()).job).toEqual(started);

    await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.25, message: "a quarter" } });
    const progressed = (await watch.take()).job!;
    expect(progressed.state).toBe(JobState.RUNNING);
    expect(progressed.progress).toMatchObject({ fraction: 0.25, message: "a quarter" });

    const requeued = (await h.executor.finishAttempt({ name: job.name, attempt: 1, retryable: true, outcome: { case: "error", value: { code: "UNAVAILABLE", message: "x" } } })).job!;
    expect((await watch.take()).job).toEqual(requeued);

    await h.executor.startAttempt({ name: job.name, executor: E1 });
    expect((await watch.take()).job!.attempts).toHaveLength(2);

    const done = (await h.executor.finishAttempt({ name: job.name, attempt: 2, outcome: { case: "result", value: { rows: 1n } } })).job!;
    expect((await watch.take()).job).toEqual(done);
    await watch.end();
  });

  it("a cancelled job ends the watch with its cancelled state", async () => {
    const job = await submitNoop(h);
    const watch = new Reader(h.runtime.watchJob({ name: job.name }));
    expect((await watch.take()).job!.state).toBe(JobState.QUEUED);
    await h.runtime.cancelJob({ name: job.name });
    expect((await watch.take()).job!.state).toBe(JobState.CANCELLED);
    await watch.end();
  });

  it("watching a job already final gives it once and ends; unknown and malformed names fail", async () => {
    const job = await submitNoop(h);
    const { job: cancelled } = await h.runtime.cancelJob({ name: job.name });
    expect((await collect(h.runtime.watchJob({ name: job.name }))).map((r) => r.job)).toEqual([cancelled]);
    expect(await failure(collect(h.runtime.watchJob({ name: "projects/default/jobs/nope" })))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await failure(collect(h.runtime.watchJob({ name: "jobs/nope" })))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
  });

  it("a look at the job record that overlapped a change never sends the watcher back to the older state", async () => {
    await h.close();
    // The runtime_jobs reads the test holds: the read happens at once, its answer comes when released.
    let hold: { held: () => void; release: Promise<void> } | undefined;
    h = await startHarness({
      schedulerMetadata: (metadata) =>
        withJobRecords(metadata, (records) => ({
          get: async (key) => {
            const value = await records.get(key);
            const h = hold;
            hold = undefined;
            if (h) {
              h.held();
              await h.release;
            }
            return value;
          },
        })),
    });
    // The watcher's once-a-second look at the record runs when the test says.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const job = await submitNoop(h);
      const watch = new Reader(h.runtime.watchJob({ name: job.name }));
      expect((await watch.take()).job!.state).toBe(JobState.QUEUED);

      let release!: () => void;
      const held = new Promise<void>((resolve) => (hold = { held: resolve, release: new Promise((r) => (release = r)) }));
      vi.advanceTimersByTime(1_000); // the look reads the job QUEUED, and its answer is held back
      await held;
      await h.executor.startAttempt({ name: job.name, executor: E1 });
      expect((await watch.take()).job!.state).toBe(JobState.RUNNING);
      release(); // the old answer arrives after the change
      await new Promise((resolve) => setImmediate(resolve));

      const reading = watch.take();
      await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.5 } });
      const next = (await reading).job!;
      expect(next.state).toBe(JobState.RUNNING);
      expect(next.progress!.fraction).toBe(0.5);
      await h.runtime.cancelJob({ name: job.name });
      expect((await watch.take()).job!.state).toBe(JobState.CANCELLED);
      await watch.end();
    } finally {
      vi.useRealTimers();
    }
  });

  it("sees changes made through another scheduler process (from the job record)", async () => {
    const other = await h.anotherScheduler();
    const job = await submitNoop(h);
    const watch = new Reader(h.runtime.watchJob({ name: job.name }));
    expect((await watch.take()).job!.state).toBe(JobState.QUEUED);
    const started = (await other.executor.startAttempt({ name: job.name, executor: E1 })).job!;
    expect((await watch.take()).job).toEqual(started);
    const done = (await other.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 2n } } })).job!;
    expect((await watch.take()).job).toEqual(done);
    await watch.end();
  });

  it("two watchers of one job each see the changes", async () => {
    const job = await submitNoop(h);
    const w1 = new Reader(h.runtime.watchJob({ name: job.name }));
    const w2 = new Reader(h.runtime.watchJob({ name: job.name }));
    await w1.take();
    await w2.take();
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    expect((await w1.take()).job!.state).toBe(JobState.RUNNING);
    expect((await w2.take()).job!.state).toBe(JobState.RUNNING);
    await h.executor.finishAttempt({ name: job.name, attempt: 1, retryable: false, outcome: { case: "error", value: { code: "INTERNAL", message: "x" } } });
    expect((await w1.take()).job!.state).toBe(JobState.FAILED);
    expect((await w2.take()).job!.state).toBe(JobState.FAILED);
    await w1.end();
    await w2.end();
  });
});

describe("job events", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  it("publishes kiln.runtime.v1.job.<transition> on the KILN_RUNTIME stream for every transition, with the job as it became", async () => {
    const ok = await submitNoop(h, { maxAttempts: 3 });
    await h.executor.startAttempt({ name: ok.name, executor: E1 });
    await h.executor.reportProgress({ name: ok.name, attempt: 1, progress: { fraction: 0.5 } });
    await h.executor.finishAttempt({ name: ok.name, attempt: 1, retryable: true, outcome: { case: "error", value: { code: "UNAVAILABLE", message: "x" } } });
    await h.executor.startAttempt({ name: ok.name, executor: E1 });
    await h.executor.finishAttempt({ name: ok.name, attempt: 2, outcome: { case: "result", value: { rows: 4n } } });

    const bad = await submitNoop(h);
    await h.executor.startAttempt({ name: bad.name, executor: E1 });
    await h.executor.finishAttempt({ name: bad.name, attempt: 1, outcome: { case: "error", value: { code: "INTERNAL", reason: "BUG", message: "x" } } });

    const gone = await submitNoop(h);
    await h.runtime.cancelJob({ name: gone.name });
    await h.runtime.cancelJob({ name: gone.name }); // no change, no event

    const events = await eventsSoFar(h.bus);
    const of = (name: string) => events.filter((e) => e.event.job!.name === name);
    expect(of(ok.name).map((e) => [e.subject, e.event.job!.state, e.event.job!.attempts.length])).toEqual([
      ["kiln.runtime.v1.job.queued", JobState.QUEUED, 0],
      ["kiln.runtime.v1.job.started", JobState.RUNNING, 1],
      ["kiln.runtime.v1.job.requeued", JobState.QUEUED, 1],
      ["kiln.runtime.v1.job.started", JobState.RUNNING, 2],
      ["kiln.runtime.v1.job.succeeded", JobState.SUCCEEDED, 2],
    ]);
    expect(of(ok.name).at(-1)!.event.job!.result!.rows).toBe(4n);
    expect(of(bad.name).map((e) => e.subject)).toEqual(["kiln.runtime.v1.job.queued", "kiln.runtime.v1.job.started", "kiln.runtime.v1.job.failed"]);
    expect(of(bad.name).at(-1)!.event.job!.error).toMatchObject({ code: "INTERNAL", reason: "BUG" });
    expect(of(gone.name).map((e) => e.subject)).toEqual(["kiln.runtime.v1.job.queued", "kiln.runtime.v1.job.cancelled"]);
    expect(events.every((e) => e.event.time !== undefined)).toBe(true);
    expect(events).toHaveLength(10);
  });

  it("a lost executor's job is announced started again, and failed when out of attempts", async () => {
    const job = await submitNoop(h, { maxAttempts: 2 });
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.startAttempt({ name: job.name, executor: "executors/e2" });
    await h.executor.startAttempt({ name: job.name, executor: "executors/e3" });
    const events = (await eventsSoFar(h.bus)).filter((e) => e.event.job!.name === job.name);
    expect(events.map((e) => e.subject)).toEqual([
      "kiln.runtime.v1.job.queued",
      "kiln.runtime.v1.job.started",
      "kiln.runtime.v1.job.started",
      "kiln.runtime.v1.job.failed",
    ]);
    expect(events[2]!.event.job!.attempts[0]!.error!.reason).toBe("EXECUTOR_LOST");
    expect(events[3]!.event.job!.error!.reason).toBe("EXECUTOR_LOST");
  });
});
