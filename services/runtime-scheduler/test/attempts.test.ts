import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { failure, pullQueue, queuedJobName, startHarness, submitNoop, type Harness } from "./harness.js";

const E1 = "executors/e1";
const E2 = "executors/e2";

describe("attempts: the job state machine driven by ExecutorService", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const getJob = async (name: string): Promise<Job> => (await h.runtime.getJob({ name })).job!;
  const start = (name: string, executor = E1) => h.executor.startAttempt({ name, executor });
  const failWith = (name: string, attempt: number, retryable: boolean, message = "boom") =>
    h.executor.finishAttempt({ name, attempt, retryable, outcome: { case: "error", value: { code: "UNAVAILABLE", reason: "LOST_CONNECTION", message } } });
  const succeed = (name: string, attempt: number) =>
    h.executor.finishAttempt({ name, attempt, outcome: { case: "result", value: { metrics: { r2: 0.75 }, rows: 12n, ranModelVersion: "projects/default/models/m/versions/1" } } });

  it("start → progress → finish with a result: RUNNING, then SUCCEEDED with the result", async () => {
    const job = await submitNoop(h);
    const started = await start(job.name);
    expect(started.run).toBe(true);
    expect(started.attempt).toBe(1);
    expect(started.job).toMatchObject({ name: job.name, state: JobState.RUNNING });
    expect(started.job!.attempts).toHaveLength(1);
    expect(started.job!.attempts[0]).toMatchObject({ number: 1, executor: E1 });
    expect(started.job!.attempts[0]!.startTime).toBeDefined();
    expect(started.job!.attempts[0]!.endTime).toBeUndefined();
    expect(started.job!.startTime).toEqual(started.job!.attempts[0]!.startTime);
    expect(await getJob(job.name)).toEqual(started.job);

    const progress = await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.5, message: "half", rowsDone: 5n, rowsTotal: 10n, epoch: 2, metrics: { loss: 0.25 } } });
    expect(progress.stop).toBe(false);
    expect((await getJob(job.name)).progress).toMatchObject({ fraction: 0.5, message: "half", rowsDone: 5n, rowsTotal: 10n, epoch: 2, metrics: { loss: 0.25 } });

    const finished = await succeed(job.name, 1);
    expect(finished.requeue).toBe(false);
    expect(finished.retryDelay).toBeUndefined();
    const done = finished.job!;
    expect(done.state).toBe(JobState.SUCCEEDED);
    expect(done.result).toMatchObject({ metrics: { r2: 0.75 }, rows: 12n, ranModelVersion: "projects/default/models/m/versions/1" });
    expect(done.error).toBeUndefined();
    expect(done.progress!.fraction).toBe(1);
    expect(done.progress!.message).toBe("half");
    expect(done.endTime).toBeDefined();
    expect(done.attempts[0]!.endTime).toBeDefined();
    expect(done.attempts[0]!.error).toBeUndefined();
    expect(await getJob(job.name)).toEqual(done);

    // A final job runs no more: a late StartAttempt is told not to run, and nothing changes.
    const late = await start(job.name, E2);
    expect(late).toMatchObject({ run: false, attempt: 0 });
    expect(await getJob(job.name)).toEqual(done);
    expect((await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.1 } })).stop).toBe(true);
  });

  it("a retryable error requeues the job (its message is nakked and redelivered) and the next StartAttempt is attempt 2", async () => {
    const job = await submitNoop(h);
    const { queues } = await h.executor.heartbeat({ executor: { name: E1, slots: 1 } });
    const { sub, reader } = await pullQueue(h.bus, queues[0]!);
    try {
      const first = await reader.take();
      expect(queuedJobName(first)).toBe(job.name);
      expect((await start(job.name)).attempt).toBe(1);

      const failed = await failWith(job.name, 1, true, "connection reset");
      expect(failed.requeue).toBe(true);
      expect(durationMs(failed.retryDelay!)).toBe(500);
      expect(failed.job).toMatchObject({ state: JobState.QUEUED });
      expect(failed.job!.error).toBeUndefined();
      expect(failed.job!.endTime).toBeUndefined();
      expect(failed.job!.attempts[0]!.error).toMatchObject({ code: "UNAVAILABLE", reason: "LOST_CONNECTION", message: "connection reset" });
      expect(failed.job!.attempts[0]!.endTime).toBeDefined();
      first.nak(durationMs(failed.retryDelay!));

      const second = await reader.take();
      expect(queuedJobName(second)).toBe(job.name);
      expect(second.deliveryCount).toBe(2);
      const again = await start(job.name, E2);
      expect(again).toMatchObject({ run: true, attempt: 2 });
      expect(again.job!.state).toBe(JobState.RUNNING);
      expect(again.job!.attempts.map((a) => [a.number, a.executor])).toEqual([
        [1, E1],
        [2, E2],
      ]);
      // The job's start time is its first attempt's.
      expect(again.job!.startTime).toEqual(again.job!.attempts[0]!.startTime);

      // Each retry waits longer.
      const failedAgain = await failWith(job.name, 2, true);
      expect(failedAgain.requeue).toBe(true);
      expect(durationMs(failedAgain.retryDelay!)).toBe(1000);
      second.nak();
      (await reader.take()).ack();
      expect((await start(job.name)).attempt).toBe(3);
      const done = await succeed(job.name, 3);
      expect(done.job!.state).toBe(JobState.SUCCEEDED);
      expect(done.job!.error).toBeUndefined();
      expect(done.job!.attempts.map((a) => a.error?.reason ?? "")).toEqual(["LOST_CONNECTION", "LOST_CONNECTION", ""]);
    } finally {
      await sub.stop();
    }
  });

  it("a non-retryable error fails the job at once with that error, attempts left or not", async () => {
    const job = await submitNoop(h, { maxAttempts: 5 });
    await start(job.name);
    const res = await h.executor.finishAttempt({
      name: job.name,
      attempt: 1,
      retryable: false,
      outcome: { case: "error", value: { code: "FAILED_PRECONDITION", reason: "COLUMN_MISSING", message: "column b is missing" } },
    });
    expect(res.requeue).toBe(false);
    expect(res.retryDelay).toBeUndefined();
    expect(res.job!.state).toBe(JobState.FAILED);
    expect(res.job!.error).toMatchObject({ code: "FAILED_PRECONDITION", reason: "COLUMN_MISSING", message: "column b is missing" });
    expect(res.job!.attempts[0]!.error).toEqual(res.job!.error);
    expect(res.job!.endTime).toBeDefined();
    expect(await start(job.name)).toMatchObject({ run: false, attempt: 0 });
    expect((await getJob(job.name)).attempts).toHaveLength(1);
  });

  it("an attempt that ends with neither a result nor an error counts as an UNKNOWN error", async () => {
    const job = await submitNoop(h, { maxAttempts: 1 });
    await start(job.name);
    const res = await h.executor.finishAttempt({ name: job.name, attempt: 1 });
    expect(res.job!.state).toBe(JobState.FAILED);
    expect(res.job!.error).toMatchObject({ code: "UNKNOWN", reason: "NO_OUTCOME" });
  });

  it("when max_attempts are used up, a retryable error fails the job, keeping the last error's code and reason", async () => {
    const job = await submitNoop(h, { maxAttempts: 2 });
    await start(job.name);
    expect((await failWith(job.name, 1, true, "first")).requeue).toBe(true);
    expect((await start(job.name)).attempt).toBe(2);
    const res = await h.executor.finishAttempt({
      name: job.name,
      attempt: 2,
      retryable: true,
      outcome: { case: "error", value: { code: "RESOURCE_EXHAUSTED", reason: "OUT_OF_MEMORY", message: "second" } },
    });
    expect(res.requeue).toBe(false);
    expect(res.retryDelay).toBeUndefined();
    const failed = res.job!;
    expect(failed.state).toBe(JobState.FAILED);
    expect(failed.error).toMatchObject({ code: "RESOURCE_EXHAUSTED", reason: "OUT_OF_MEMORY" });
    expect(failed.error!.message).toContain("2 attempts");
    expect(failed.error!.message).toContain("second");
    expect(failed.attempts.map((a) => a.error?.message)).toEqual(["first", "second"]);
    expect(await start(job.name)).toMatchObject({ run: false });
  });

  it("max_attempts 1: a retryable error does not requeue", async () => {
    const job = await submitNoop(h, { maxAttempts: 1 });
    await start(job.name);
    const res = await failWith(job.name, 1, true, "only try");
    expect(res.requeue).toBe(false);
    expect(res.job!.state).toBe(JobState.FAILED);
    expect(res.job!.error).toMatchObject({ code: "UNAVAILABLE", reason: "LOST_CONNECTION" });
    expect(res.job!.error!.message).toContain("1 attempt:");
  });

  it("an executor that crashes: its message comes back, the new StartAttempt marks the old attempt EXECUTOR_LOST and supersedes it", async () => {
    const job = await submitNoop(h);
    const { queues } = await h.executor.heartbeat({ executor: { name: E1, slots: 1 } });
    // A short ack wait so the un-acked message comes back as it would after a crash.
    const sub = await h.bus.subscribe({ stream: "KILN_RUNTIME_QUEUE", durable: queues[0]!.consumer, filterSubject: queues[0]!.subject, ackWaitMs: 100 });
    const it = sub[Symbol.asyncIterator]();
    try {
      const first = (await it.next()).value!;
      expect(queuedJobName(first)).toBe(job.name);
      expect((await start(job.name, E1)).attempt).toBe(1);
      await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.3 } });
      // E1 goes silent without acking; the bus redelivers to E2.
      const redelivered = (await it.next()).value!;
      expect(queuedJobName(redelivered)).toBe(job.name);
      expect(redelivered.deliveryCount).toBe(2);

      const taken = await start(job.name, E2);
      expect(taken).toMatchObject({ run: true, attempt: 2 });
      const [lost, current] = taken.job!.attempts;
      expect(lost).toMatchObject({ number: 1, executor: E1, error: { code: "UNAVAILABLE", reason: "EXECUTOR_LOST" } });
      expect(lost!.error!.message).toContain(E1);
      expect(lost!.endTime).toBeDefined();
      expect(current).toMatchObject({ number: 2, executor: E2 });
      expect(current!.endTime).toBeUndefined();
      expect(taken.job!.state).toBe(JobState.RUNNING);
      redelivered.ack();

      // E1 wakes up: it is told to stop, and its outcome no longer counts.
      expect((await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.9 } })).stop).toBe(true);
      expect((await getJob(job.name)).progress!.fraction).toBe(0); // attempt 2 starts from scratch; the stale report is ignored
      const stale = await succeed(job.name, 1);
      expect(stale.requeue).toBe(false);
      expect(stale.job).toEqual(taken.job);
      expect(await getJob(job.name)).toEqual(taken.job);
      const staleError = await failWith(job.name, 1, true);
      expect(staleError.requeue).toBe(false);
      expect(await getJob(job.name)).toEqual(taken.job);

      expect((await h.executor.reportProgress({ name: job.name, attempt: 2, progress: { fraction: 0.5 } })).stop).toBe(false);
      const done = await succeed(job.name, 2);
      expect(done.job!.state).toBe(JobState.SUCCEEDED);
      expect(done.job!.attempts[1]!.error).toBeUndefined();
    } finally {
      await sub.stop();
    }
  });

  it("a lost executor on the last attempt fails the job with EXECUTOR_LOST instead of starting another", async () => {
    const job = await submitNoop(h, { maxAttempts: 1 });
    await start(job.name, E1);
    const res = await start(job.name, E2);
    expect(res).toMatchObject({ run: false, attempt: 0 });
    expect(res.job!.state).toBe(JobState.FAILED);
    expect(res.job!.error).toMatchObject({ code: "UNAVAILABLE", reason: "EXECUTOR_LOST" });
    expect(res.job!.attempts).toHaveLength(1);
    expect(await getJob(job.name)).toEqual(res.job);
  });

  it("finishing with a wrong attempt number (0, a future one) changes nothing", async () => {
    const job = await submitNoop(h);
    const started = (await start(job.name)).job!;
    for (const attempt of [0, 2, -1]) {
      const res = await succeed(job.name, attempt);
      expect(res.requeue).toBe(false);
      expect(res.job).toEqual(started);
      expect((await h.executor.reportProgress({ name: job.name, attempt, progress: { fraction: 1 } })).stop).toBe(true);
    }
    expect(await getJob(job.name)).toEqual(started);
    // Finishing twice: the second is a no-op.
    const done = (await succeed(job.name, 1)).job!;
    expect(done.state).toBe(JobState.SUCCEEDED);
    const twice = await failWith(job.name, 1, true);
    expect(twice.requeue).toBe(false);
    expect(twice.job).toEqual(done);
  });

  it("executor calls check names: malformed → InvalidArgument, unknown job → NotFound", async () => {
    const job = await submitNoop(h);
    expect(await failure(start("jobs/x"))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(start(job.name, "e1"))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(start(job.name, ""))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(start("projects/default/jobs/nope"))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await failure(h.executor.reportProgress({ name: "projects/default/jobs/nope", attempt: 1 }))).toMatchObject({ code: Code.NotFound });
    expect(await failure(h.executor.finishAttempt({ name: "projects/default/jobs/../x", attempt: 1 }))).toMatchObject({ code: Code.InvalidArgument });
    expect(await failure(h.runtime.getJob({ name: "projects/default/jobs/nope" }))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await failure(h.runtime.cancelJob({ name: "nope" }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await getJob(job.name)).toEqual(job);
  });
});

describe("CancelJob", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const getJob = async (name: string): Promise<Job> => (await h.runtime.getJob({ name })).job!;

  it("cancels a queued job: CANCELLED with a CANCELLED error; an executor taking its message is told not to run it", async () => {
    const job = await submitNoop(h);
    const { job: cancelled } = await h.runtime.cancelJob({ name: job.name });
    expect(cancelled!.state).toBe(JobState.CANCELLED);
    expect(cancelled!.error).toMatchObject({ code: "CANCELLED", reason: "CANCELLED_BY_USER" });
    expect(cancelled!.endTime).toBeDefined();
    expect(cancelled!.startTime).toBeUndefined();
    expect(await getJob(job.name)).toEqual(cancelled);

    const res = await h.executor.startAttempt({ name: job.name, executor: E1 });
    expect(res).toMatchObject({ run: false, attempt: 0 });
    expect(res.job).toEqual(cancelled);
    // Cancelling again returns the job as it is.
    expect((await h.runtime.cancelJob({ name: job.name })).job).toEqual(cancelled);
  });

  it("cancels a running job: the attempt ends, progress answers stop, the finish is ignored, the heartbeat lists it", async () => {
    const job = await submitNoop(h);
    const other = await submitNoop(h);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.startAttempt({ name: other.name, executor: E1 });
    await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.4 } });

    const cancelled = (await h.runtime.cancelJob({ name: job.name })).job!;
    expect(cancelled.state).toBe(JobState.CANCELLED);
    expect(cancelled.attempts[0]!.endTime).toBeDefined();
    expect(cancelled.attempts[0]!.error).toMatchObject({ code: "CANCELLED", reason: "CANCELLED_BY_USER" }); // why it ended
    expect(cancelled.endTime).toBeDefined();

    const progress = await h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: 0.6 } });
    expect(progress.stop).toBe(true);
    expect((await getJob(job.name)).progress!.fraction).toBe(0.4);

    const { cancelledJobs } = await h.executor.heartbeat({ executor: { name: E1, slots: 2, runningJobs: [job.name, other.name] } });
    expect(cancelledJobs).toEqual([job.name]);

    const finish = await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 3n } } });
    expect(finish.requeue).toBe(false);
    expect(finish.job).toEqual(cancelled);
    expect(await getJob(job.name)).toEqual(cancelled);
    expect((await getJob(other.name)).state).toBe(JobState.RUNNING);
  });

  it("cancelling a finished job changes nothing", async () => {
    const job = await submitNoop(h);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    const done = (await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: {} } })).job!;
    expect((await h.runtime.cancelJob({ name: job.name })).job).toEqual(done);
    expect(await getJob(job.name)).toEqual(done);
  });
});
