import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorReason } from "@kiln/core";
import { JobState } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { PROJECT, eventsSoFar, queueMessagesSoFar, queuedJobName, startHarness, submitNoop, uniqueName, type Harness } from "./harness.js";

const E1 = "executors/e1";
const FINAL = ["kiln.runtime.v1.job.succeeded", "kiln.runtime.v1.job.failed", "kiln.runtime.v1.job.cancelled"];

describe("concurrent calls on one job", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  it("concurrent submits with one request_id make one job: each gets it or REQUEST_IN_FLIGHT, and a retry gets it", async () => {
    const requestId = uniqueName("req");
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, () => submitNoop(h, {}, requestId)));
    const names = new Set<string>();
    for (const o of outcomes) {
      if (o.status === "fulfilled") names.add(o.value.name);
      else {
        expect(o.reason).toBeInstanceOf(ConnectError);
        expect((o.reason as ConnectError).code).toBe(Code.AlreadyExists);
        expect(errorReason(o.reason as ConnectError)).toBe("REQUEST_IN_FLIGHT");
      }
    }
    expect(names.size).toBe(1);
    const [name] = [...names];
    expect((await submitNoop(h, {}, requestId)).name).toBe(name);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs.map((j) => j.name)).toEqual([name]);
    expect((await queueMessagesSoFar(h.bus)).map(queuedJobName)).toEqual([name]);
  });

  it("a cancel racing the finish: one of them wins, the job ends once, with one final event", async () => {
    for (let round = 0; round < 5; round++) {
      const job = await submitNoop(h);
      await h.executor.startAttempt({ name: job.name, executor: E1 });
      const [cancel, finish] = await Promise.all([
        h.runtime.cancelJob({ name: job.name }),
        h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 1n } } }),
      ]);
      const stored = (await h.runtime.getJob({ name: job.name })).job!;
      expect([JobState.SUCCEEDED, JobState.CANCELLED]).toContain(stored.state);
      // Both calls answer with the job as it ended.
      expect(cancel.job).toEqual(stored);
      expect(finish.job).toEqual(stored);
      if (stored.state === JobState.SUCCEEDED) expect(stored.result!.rows).toBe(1n);
      else expect(stored.result).toBeUndefined();
      const finals = (await eventsSoFar(h.bus)).filter((e) => e.event.job!.name === job.name && FINAL.includes(e.subject));
      expect(finals).toHaveLength(1);
      expect(finals[0]!.event.job!.state).toBe(stored.state);
    }
  });

  it("many progress reports at once all land without contention errors, and the finish after them wins", async () => {
    const job = await submitNoop(h);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    const reports = await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.executor.reportProgress({ name: job.name, attempt: 1, progress: { fraction: (i + 1) / 100, rowsDone: BigInt(i) } })),
    );
    expect(reports.every((r) => !r.stop)).toBe(true);
    const fraction = (await h.runtime.getJob({ name: job.name })).job!.progress!.fraction;
    expect(Array.from({ length: 12 }, (_, i) => (i + 1) / 100)).toContain(fraction);
    const done = await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: {} } });
    expect(done.job!.state).toBe(JobState.SUCCEEDED);
    expect(done.job!.progress!.fraction).toBe(1);
  });

  it("two executors starting one job at once: both calls are answered, attempts are numbered without gaps, one attempt is current", async () => {
    const job = await submitNoop(h, { maxAttempts: 5 });
    const [a, b] = await Promise.all([
      h.executor.startAttempt({ name: job.name, executor: E1 }),
      h.executor.startAttempt({ name: job.name, executor: "executors/e2" }),
    ]);
    const stored = (await h.runtime.getJob({ name: job.name })).job!;
    expect(stored.state).toBe(JobState.RUNNING);
    expect(stored.attempts.map((x) => x.number)).toEqual([1, 2]);
    expect([a.attempt, b.attempt].sort()).toEqual([1, 2]);
    // The earlier attempt was superseded, so only the later one may finish the job.
    const superseded = a.attempt === 1 ? a : b;
    const current = a.attempt === 2 ? a : b;
    expect(stored.attempts[0]!.error!.reason).toBe("EXECUTOR_LOST");
    expect((await h.executor.reportProgress({ name: job.name, attempt: superseded.attempt, progress: {} })).stop).toBe(true);
    expect((await h.executor.finishAttempt({ name: job.name, attempt: current.attempt, outcome: { case: "result", value: {} } })).job!.state).toBe(JobState.SUCCEEDED);
  });

  it("concurrent first heartbeats of one executor register it once", async () => {
    await Promise.all(Array.from({ length: 5 }, (_, i) => h.executor.heartbeat({ executor: { name: "executors/e1", slots: i + 1 } })));
    const { executors } = await h.runtime.listExecutors({});
    expect(executors.map((e) => e.name)).toEqual(["executors/e1"]);
    expect(await h.metadata.collection("runtime_executors").list()).toHaveLength(1);
  });
});
