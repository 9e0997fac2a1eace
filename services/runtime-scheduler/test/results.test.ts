import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Code } from "@connectrpc/connect";
import { tableFromArrays } from "apache-arrow";
import { tableToIpc } from "@kiln/data";
import { RowEncoding } from "@kiln/proto/kiln/common/v1/table_pb";
import { JobKind, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { END_HEADER, RESULTS_STREAM, RESULTS_SUBJECT_PREFIX, SEQ_HEADER } from "@kiln/contracts";
import { PROJECT, Reader, collect, failure, makeDataset, makeOnnxModel, startHarness, submitNoop, type Harness } from "./harness.js";

const E1 = "executors/e1";
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => new TextDecoder().decode(b);

describe("ReadJobResults", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  async function submitPredict(kind = JobKind.PREDICT): Promise<Job> {
    const ds = await makeDataset(h);
    const model = await makeOnnxModel(h);
    return (await h.runtime.submitJob({ parent: PROJECT, job: { kind, model, x: { dataset: ds } } })).job!;
  }

  /** What an executor publishes: chunk `seq` of the job's results, on the subject the heartbeat names. */
  async function publishChunk(job: Job, seq: number, data: string): Promise<void> {
    const id = job.name.split("/").at(-1)!;
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${id}`, bytes(data), { headers: { [SEQ_HEADER]: String(seq) } });
  }

  async function publishEnd(job: Job, count: number): Promise<void> {
    const id = job.name.split("/").at(-1)!;
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${id}`, new Uint8Array(), { headers: { [END_HEADER]: String(count) } });
  }

  it("the heartbeat names the results stream and subject prefix executors publish to", async () => {
    const res = await h.executor.heartbeat({ executor: { name: E1, slots: 1 } });
    expect(res.resultsStream).toBe(RESULTS_STREAM.name);
    expect(res.resultsSubjectPrefix).toBe(RESULTS_SUBJECT_PREFIX);
  });

  it("streams chunks in order as the executor publishes them, and ends at the end marker", async () => {
    const job = await submitPredict();
    const results = new Reader(h.runtime.readJobResults({ name: job.name }));
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await publishChunk(job, 0, "rows 0-9");
    const first = await results.take();
    // The first chunk arrives while the job still runs.
    expect((await h.runtime.getJob({ name: job.name })).job!.state).toBe(JobState.RUNNING);
    expect(first.sequence).toBe(0n);
    expect(text(first.chunk?.arrowIpc)).toBe("rows 0-9");
    await publishChunk(job, 1, "rows 10-19");
    await publishChunk(job, 2, "rows 20-24");
    await publishEnd(job, 3);
    expect((await results.take()).sequence).toBe(1n);
    const third = await results.take();
    expect(third.sequence).toBe(2n);
    expect(text(third.chunk?.arrowIpc)).toBe("rows 20-24");
    await results.end();
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 25n } } });
  });

  it("a reader that comes after the job succeeded gets every chunk from the start", async () => {
    const job = await submitPredict(JobKind.TRANSFORM);
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    for (let i = 0; i < 5; i++) await publishChunk(job, i, `chunk ${i}`);
    await publishEnd(job, 5);
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 5n } } });
    const all = await collect(h.runtime.readJobResults({ name: job.name }));
    expect(all.map((r) => [r.sequence, text(r.chunk?.arrowIpc)])).toEqual([0, 1, 2, 3, 4].map((i) => [BigInt(i), `chunk ${i}`]));
    // Readers do not take results away from each other.
    expect(await collect(h.runtime.readJobResults({ name: job.name }))).toHaveLength(5);
  });

  it("sends the rows as JSON when asked, a big chunk in several messages, numbered in order, a repeat skipped", async () => {
    const job = await submitPredict();
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    const chunk = (from: number, n: number) => tableToIpc(tableFromArrays({ prediction: Float32Array.from({ length: n }, (_, i) => (from + i) / 10) }));
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${job.name.split("/").at(-1)}`, chunk(0, 100_000), { headers: { [SEQ_HEADER]: "0" } });
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${job.name.split("/").at(-1)}`, chunk(0, 100_000), { headers: { [SEQ_HEADER]: "0" } }); // a retried attempt's repeat
    await h.bus.publish(`${RESULTS_SUBJECT_PREFIX}.${job.name.split("/").at(-1)}`, chunk(100_000, 3), { headers: { [SEQ_HEADER]: "1" } });
    await publishEnd(job, 2);
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 100_003n } } });
    const all = await collect(h.runtime.readJobResults({ name: job.name, encoding: RowEncoding.JSON }));
    expect(all.length).toBeGreaterThan(2);
    expect(all.map((r) => r.sequence)).toEqual(all.map((_, i) => BigInt(i)));
    expect(all.every((r) => r.chunk === undefined && r.json!.columns.join() === "prediction")).toBe(true);
    const rows = all.flatMap((r) => r.json!.rows);
    expect(rows).toHaveLength(100_003);
    expect(rows.every((r, i) => Math.fround(r.prediction as number) === Math.fround(i / 10))).toBe(true);
    expect(rows.slice(0, 3)).toEqual([{ prediction: 0 }, { prediction: 0.1 }, { prediction: 0.2 }]);
    expect(rows.at(-1)).toEqual({ prediction: 10000.2 });
  });

  it("skips chunks a retried attempt publishes again, and only counts the end marker once all chunks are read", async () => {
    const job = await submitPredict(JobKind.PREDICT_PROBA);
    const results = new Reader(h.runtime.readJobResults({ name: job.name }));
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await publishChunk(job, 0, "p0");
    await publishChunk(job, 1, "p1");
    expect((await results.take()).sequence).toBe(0n);
    expect((await results.take()).sequence).toBe(1n);
    const retry = await h.executor.finishAttempt({ name: job.name, attempt: 1, retryable: true, outcome: { case: "error", value: { code: "UNAVAILABLE", message: "lost" } } });
    expect(retry.requeue).toBe(true);

    // The second attempt starts over: chunks 0 and 1 again, then 2 and the end marker.
    await h.executor.startAttempt({ name: job.name, executor: "executors/e2" });
    await publishChunk(job, 0, "p0");
    await publishChunk(job, 1, "p1");
    await publishChunk(job, 2, "p2");
    await publishEnd(job, 3);
    const third = await results.take();
    expect([third.sequence, text(third.chunk?.arrowIpc)]).toEqual([2n, "p2"]);
    await results.end();
    await h.executor.finishAttempt({ name: job.name, attempt: 2, outcome: { case: "result", value: { rows: 3n } } });

    // A fresh reader sees the same three chunks, each once.
    const again = await collect(h.runtime.readJobResults({ name: job.name }));
    expect(again.map((r) => [r.sequence, text(r.chunk?.arrowIpc)])).toEqual([
      [0n, "p0"],
      [1n, "p1"],
      [2n, "p2"],
    ]);
  });

  it("an end marker counting more chunks than were read does not end the stream", async () => {
    const job = await submitPredict();
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    // The first marker counts 2 chunks when only chunk 0 is there; the stream goes on to chunk 1.
    await publishChunk(job, 0, "a");
    await publishEnd(job, 2);
    await publishChunk(job, 1, "b");
    await publishEnd(job, 2);
    const all = await collect(h.runtime.readJobResults({ name: job.name }));
    expect(all.map((r) => text(r.chunk?.arrowIpc))).toEqual(["a", "b"]);
  });

  it("says the results expired, instead of ending empty, for a job that ended longer ago than they are kept", async () => {
    const job = await submitPredict();
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await publishChunk(job, 0, "only");
    await publishEnd(job, 1);
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 1n } } });
    expect(await collect(h.runtime.readJobResults({ name: job.name }))).toHaveLength(1);
    h.clock.advance(2 * 3_600_000); // KILN_RESULTS_TTL_MS defaults to an hour
    expect(await failure(collect(h.runtime.readJobResults({ name: job.name })))).toMatchObject({
      code: Code.FailedPrecondition,
      reason: "RESULTS_EXPIRED",
      message: expect.stringMatching(/are no longer kept \(results stay readable 60 min after they are published, KILN_RESULTS_TTL_MS, and on the in-process bus of embedded mode only while the process runs\): run the job again/),
    });
  });

  it("says the results expired when the chunks an end marker counted, or a job's rows, never come", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      // Chunk 0 is gone (each message expires by its own age); chunk 1 and the end marker are left.
      const job = await submitPredict();
      await h.executor.startAttempt({ name: job.name, executor: E1 });
      await publishChunk(job, 1, "b");
      await publishEnd(job, 2);
      await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 2n } } });
      const partly = failure(collect(h.runtime.readJobResults({ name: job.name })));
      await vi.advanceTimersByTimeAsync(6_000);
      expect(await partly).toMatchObject({ code: Code.FailedPrecondition, reason: "RESULTS_EXPIRED" });

      // Nothing left at all of a job that had rows.
      const empty = await submitPredict();
      await h.executor.startAttempt({ name: empty.name, executor: E1 });
      await h.executor.finishAttempt({ name: empty.name, attempt: 1, outcome: { case: "result", value: { rows: 5n } } });
      const none = failure(collect(h.runtime.readJobResults({ name: empty.name })));
      await vi.advanceTimersByTimeAsync(6_000);
      expect(await none).toMatchObject({ reason: "RESULTS_EXPIRED" });
    } finally {
      vi.useRealTimers();
    }
  });

  it("fails with the job's error code and reason when the job fails, also after some chunks", async () => {
    const job = await submitPredict();
    // The reader's once-a-second look at the job record is for changes made by other
    // scheduler processes; with it stopped, this process's own change must still arrive.
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    try {
      const results = new Reader(h.runtime.readJobResults({ name: job.name }));
      await h.executor.startAttempt({ name: job.name, executor: E1 });
      await publishChunk(job, 0, "partial");
      expect((await results.take()).sequence).toBe(0n);
      await publishChunk(job, 1, "more");
      expect((await results.take()).sequence).toBe(1n);
      await h.executor.finishAttempt({
        name: job.name,
        attempt: 1,
        outcome: { case: "error", value: { code: "FAILED_PRECONDITION", reason: "COLUMN_MISSING", message: "column b is missing" } },
      });
      const err = await failure(results.take());
      expect(err).toMatchObject({ code: Code.FailedPrecondition, reason: "COLUMN_MISSING" });
      expect(err.message).toContain(`job ${job.name.split("/").pop()} failed: column b is missing`); // worded as the SDK's get()
    } finally {
      vi.useRealTimers();
    }

    // A reader of the failed job fails at once, the same way.
    expect(await failure(collect(h.runtime.readJobResults({ name: job.name })))).toMatchObject({ code: Code.FailedPrecondition, reason: "COLUMN_MISSING" });
  });

  it("a failure recorded by another scheduler process ends the read with the job's error", async () => {
    const other = await h.anotherScheduler();
    const job = await submitPredict();
    const results = new Reader(h.runtime.readJobResults({ name: job.name }));
    await other.executor.startAttempt({ name: job.name, executor: E1 });
    await publishChunk(job, 0, "x");
    expect((await results.take()).sequence).toBe(0n);
    await other.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "error", value: { code: "DEADLINE_EXCEEDED", reason: "JOB_TIMEOUT", message: "too slow" } } });
    expect(await failure(results.take())).toMatchObject({ code: Code.DeadlineExceeded, reason: "JOB_TIMEOUT" });
  });

  it("a succeeded job whose end marker never comes (e.g. expired results) ends the read once the stream stays quiet", async () => {
    const job = await submitPredict();
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await publishChunk(job, 0, "only");
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: { rows: 1n } } });
    const all = await collect(h.runtime.readJobResults({ name: job.name }));
    expect(all.map((r) => text(r.chunk?.arrowIpc))).toEqual(["only"]);
  });

  it("a job that failed with an unknown code name fails the read with Unknown; a cancelled job with Canceled", async () => {
    const odd = await submitPredict();
    await h.executor.startAttempt({ name: odd.name, executor: E1 });
    await h.executor.finishAttempt({ name: odd.name, attempt: 1, outcome: { case: "error", value: { code: "WHATEVER", reason: "ODD", message: "odd" } } });
    expect(await failure(collect(h.runtime.readJobResults({ name: odd.name })))).toMatchObject({ code: Code.Unknown, reason: "ODD" });

    const cancelled = await submitPredict();
    const results = new Reader(h.runtime.readJobResults({ name: cancelled.name }));
    await h.runtime.cancelJob({ name: cancelled.name });
    expect(await failure(results.take())).toMatchObject({ code: Code.Canceled, reason: "CANCELLED_BY_USER", message: expect.stringContaining("cancelled: the job was cancelled") });
  });

  it("a job kind without result rows ends the stream empty once it succeeds", async () => {
    const job = await submitNoop(h);
    const results = new Reader(h.runtime.readJobResults({ name: job.name }));
    await h.executor.startAttempt({ name: job.name, executor: E1 });
    await h.executor.finishAttempt({ name: job.name, attempt: 1, outcome: { case: "result", value: {} } });
    await results.end();
    expect(await collect(h.runtime.readJobResults({ name: job.name }))).toEqual([]);
  });

  it("an unknown or malformed job name fails", async () => {
    expect(await failure(collect(h.runtime.readJobResults({ name: "projects/default/jobs/nope" })))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await failure(collect(h.runtime.readJobResults({ name: "nope" })))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
  });
});
