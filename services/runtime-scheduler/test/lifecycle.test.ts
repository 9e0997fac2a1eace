import { afterEach, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobKind, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DatasetEventSchema } from "@kiln/proto/kiln/store/v1/store_pb";
import {
  PROJECT,
  Reader,
  eventsSoFar,
  failingQueuePublishes,
  failure,
  makeDataset,
  makeOnnxModel,
  makeTemporaryDataset,
  queueMessagesSoFar,
  queuedJobName,
  startHarness,
  submitNoop,
  uniqueName,
  type Harness,
} from "./harness.js";

const E1 = "executors/e1";

/** Resolves once the store announces the dataset's deletion. */
async function deleted(h: Harness, dataset: string): Promise<void> {
  const sub = await h.bus.subscribe({ stream: "KILN_STORE", durable: uniqueName("deleted"), filterSubject: "kiln.store.v1.dataset.deleted", deliverPolicy: "all" });
  const reader = new Reader(sub);
  try {
    for (;;) {
      const msg = await reader.take();
      msg.ack();
      if (fromBinary(DatasetEventSchema, msg.data).dataset === dataset) return;
    }
  } finally {
    await sub.stop();
  }
}

const exists = async (h: Harness, dataset: string) =>
  h.store.getDataset({ name: dataset }).then(
    () => true,
    (e: unknown) => {
      if ((e as { code?: Code }).code === Code.NotFound) return false;
      throw e;
    },
  );

describe("temporary inputs", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  async function submitScore(x: string, y: string, xTemporary: boolean, yTemporary: boolean, maxAttempts = 3): Promise<Job> {
    const model = await makeOnnxModel(h);
    const { job } = await h.runtime.submitJob({
      parent: PROJECT,
      job: { kind: JobKind.SCORE, model, x: { dataset: x, temporary: xTemporary }, y: { dataset: y, temporary: yTemporary }, maxAttempts },
    });
    expect(job!.x!.temporary).toBe(xTemporary);
    expect(job!.y!.temporary).toBe(yTemporary);
    return job!;
  }

  it("are deleted from the store once the job succeeds; other inputs stay", async () => {
    h = await startHarness();
    const x = await makeTemporaryDataset(h);
    const y = await makeDataset(h, [{ t: 1 }, { t: 2 }]);
    const job = await submitScore(x, y, true, false);
    await h.executor.startAttempt({ name: job.name, executor: E1 });

    // A retry is not the end: the inputs are still needed.
    const retry = await h.executor.finishAttempt({ name: job.name, attempt: 1, retryable: true, outcome: { case: "error", value: { code: "UNAVAILABLE", message: "x" } } });
    expect(retry.requeue).toBe(true);
    expect(await exists(h, x)).toBe(true);

    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.finishAttempt({ name: job.name, attempt: 2, outcome: { case: "result", value: { metrics: { r2: 1 } } } });
    await deleted(h, x);
    expect(await exists(h, x)).toBe(false);
    expect(await exists(h, y)).toBe(true);
  });

  it("are deleted when the job fails, and when a queued job is cancelled", async () => {
    h = await startHarness();
    const x1 = await makeTemporaryDataset(h);
    const y1 = await makeTemporaryDataset(h);
    const failing = await submitScore(x1, y1, true, true);
    await h.executor.startAttempt({ name: failing.name, executor: E1 });
    await h.executor.finishAttempt({ name: failing.name, attempt: 1, outcome: { case: "error", value: { code: "INTERNAL", message: "x" } } });
    await deleted(h, x1);
    await deleted(h, y1);
    expect(await exists(h, x1)).toBe(false);
    expect(await exists(h, y1)).toBe(false);

    const x2 = await makeDataset(h);
    const y2 = await makeTemporaryDataset(h);
    const cancelled = await submitScore(x2, y2, false, true);
    await h.runtime.cancelJob({ name: cancelled.name });
    await deleted(h, y2);
    expect(await exists(h, y2)).toBe(false);
    expect(await exists(h, x2)).toBe(true);
  });

  it("are deleted when a lost executor used up the last attempt", async () => {
    h = await startHarness();
    const x = await makeTemporaryDataset(h);
    const y = await makeDataset(h);
    const job = await submitScore(x, y, true, false, 1);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    const res = await h.executor.startAttempt({ name: job.name, executor: "executors/e2" });
    expect(res.job!.state).toBe(JobState.FAILED);
    await deleted(h, x);
    expect(await exists(h, x)).toBe(false);
  });

  it("may only be datasets made as one: marking another temporary fails FailedPrecondition at submit, and it stays", async () => {
    h = await startHarness();
    const x = await makeDataset(h);
    const y = await makeTemporaryDataset(h);
    const model = await makeOnnxModel(h);
    for (const job of [
      { kind: JobKind.PREDICT, model, x: { dataset: x, temporary: true } },
      { kind: JobKind.SCORE, model, x: { dataset: y, temporary: true }, y: { dataset: x, temporary: true } },
    ]) {
      const err = await failure(h.runtime.submitJob({ parent: PROJECT, job }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.reason).toBe("NOT_TEMPORARY");
      expect(err.message).toContain(`job.${job.y ? "y" : "x"} marks ${x} temporary`);
    }
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toEqual([]);
    expect(await exists(h, x)).toBe(true);
  });

  const TTL = 60_000;
  const heartbeat = () => h.executor.heartbeat({ executor: { name: E1, slots: 1 } });
  const claims = () => h.metadata.collection("runtime_temporaries").count();

  it("one the store cannot drop when its job ends is dropped by the sweep once older than KILN_TEMPORARY_TTL_MS", async () => {
    let storeAway = true;
    h = await startHarness({
      settings: { temporaryTtlMs: TTL },
      schedulerStore: (store) => ({
        ...store,
        deleteDataset: async (req) => {
          if (storeAway) throw new ConnectError("store unavailable", Code.Unavailable);
          return store.deleteDataset(req);
        },
      }),
    });
    await heartbeat(); // the first sweep: nothing old yet
    const x = await makeTemporaryDataset(h);
    const y = await makeDataset(h);
    const job = await submitScore(x, y, true, false);
    expect(await claims()).toBe(1);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: {} } });
    storeAway = false;
    h.clock.advance(TTL / 2);
    await heartbeat(); // the next sweep: not old enough
    expect(await exists(h, x)).toBe(true);

    h.clock.advance(TTL);
    await heartbeat();
    await expect.poll(() => exists(h, x)).toBe(false);
    await expect.poll(claims).toBe(0);
    expect(await exists(h, y)).toBe(true);
  });

  it("one no job took (its client went away after the upload) is dropped by the sweep; one a queued job claims stays until the job ends", async () => {
    h = await startHarness({ settings: { temporaryTtlMs: TTL } });
    await heartbeat();
    const orphan = await makeTemporaryDataset(h);
    const claimed = await makeTemporaryDataset(h);
    const y = await makeDataset(h);
    const queued = await submitScore(claimed, y, true, false);
    h.clock.advance(2 * TTL);
    await heartbeat();
    await expect.poll(() => exists(h, orphan)).toBe(false);
    expect(await exists(h, claimed)).toBe(true);
    expect(await exists(h, y)).toBe(true);

    await h.runtime.cancelJob({ name: queued.name });
    await expect.poll(() => exists(h, claimed)).toBe(false);
    expect(await claims()).toBe(0);
  });

  it("a job takes one within half the TTL of its making (TEMPORARY_EXPIRED), and only one no other job took (TEMPORARY_TAKEN)", async () => {
    h = await startHarness({ settings: { temporaryTtlMs: TTL } });
    const x = await makeTemporaryDataset(h);
    const y = await makeDataset(h);
    await submitScore(x, y, true, false);
    const taken = await failure(submitScore(x, y, true, false));
    expect(taken).toMatchObject({ code: Code.FailedPrecondition, reason: "TEMPORARY_TAKEN" });
    expect(taken.message).toContain(`${x} is another job's temporary input`);

    const late = await makeTemporaryDataset(h);
    h.clock.advance(TTL / 2 + 1_000);
    const expired = await failure(submitScore(late, y, true, false));
    expect(expired).toMatchObject({ code: Code.FailedPrecondition, reason: "TEMPORARY_EXPIRED" });
    expect(expired.message).toMatch(new RegExp(`job.x: ${late} was made 3\\d s ago, and a job must take a temporary input within 30 s`));
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toHaveLength(1);
    expect(await claims()).toBe(1);
  });

  it("a temporary input already gone does not stop the job from ending", async () => {
    h = await startHarness();
    const x = await makeTemporaryDataset(h);
    const y = await makeDataset(h);
    const job = await submitScore(x, y, true, false);
    await h.store.deleteDataset({ name: x });
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    const done = await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: {} } });
    expect(done.job!.state).toBe(JobState.SUCCEEDED);
    expect((await h.runtime.getJob({ name: job.name })).job!.state).toBe(JobState.SUCCEEDED);
  });
});

describe("a submit whose queue publish fails", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  it("is not accepted: no job remains, and a retry with the same request_id makes the job", async () => {
    let queueDown = true;
    h = await startHarness({ schedulerBus: failingQueuePublishes(() => queueDown) });
    const requestId = uniqueName("req");
    const submit = () => h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.NOOP }, requestId });

    const err = await failure(submit());
    expect(err.code).toBe(Code.Internal);
    expect(await h.metadata.collection("runtime_jobs").list()).toEqual([]);
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toEqual([]);
    expect(await h.metadata.collection("runtime_requests").list()).toEqual([]);

    queueDown = false;
    const { job } = await submit();
    expect(job!.state).toBe(JobState.QUEUED);
    expect((await submit()).job!.name).toBe(job!.name);
    expect((await queueMessagesSoFar(h.bus)).map(queuedJobName)).toEqual([job!.name]);
    const events = (await eventsSoFar(h.bus)).filter((e) => e.event.job!.name === job!.name);
    expect(events.map((e) => e.subject)).toEqual(["kiln.runtime.v1.job.queued"]);
  });
});
