import { afterEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { requeueAfterRestart } from "../src/index.js";
import { eventsSoFar, failure, makeDataset, makeOnnxModel, PROJECT, startHarness, submitNoop, uniqueName, type Harness } from "./harness.js";

const HOUR = 3_600_000;
const E1 = "executors/e1";

describe("deleting jobs: one at a time, purges, and the retention sweep", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  // Each a few ms after the last, so that the oldest are well defined (ids sort by creation time).
  const cancelled = async (job = {}, requestId = ""): Promise<Job> => {
    h.clock.advance(5);
    const made = await submitNoop(h, job, requestId);
    return (await h.runtime.cancelJob({ name: made.name })).job!;
  };
  const succeeded = async (): Promise<Job> => {
    h.clock.advance(5);
    const made = await submitNoop(h);
    const { attempt } = await h.executor.startAttempt({ name: made.name, executor: E1 });
    return (await h.executor.finishAttempt({ name: made.name, attempt, outcome: { case: "result", value: { rows: 1n } } })).job!;
  };
  const failed = async (): Promise<Job> => {
    h.clock.advance(5);
    const made = await submitNoop(h, { maxAttempts: 1 });
    const { attempt } = await h.executor.startAttempt({ name: made.name, executor: E1 });
    return (await h.executor.finishAttempt({ name: made.name, attempt, outcome: { case: "error", value: { code: "INTERNAL", reason: "BOOM", message: "boom" } } })).job!;
  };
  const exists = async (name: string) => (await h.runtime.getJob({ name }).then(() => true, () => false));
  const listed = async (states: JobState[] = []) => (await h.runtime.listJobs({ parent: PROJECT, states, pageSize: 1000 })).jobs.map((j) => j.name);

  it("DeleteJob deletes a job that is over, announces it, and leaves what the job made", async () => {
    h = await startHarness();
    const output = await makeDataset(h);
    const job = await cancelled({ outputDataset: output });
    const other = await cancelled();

    expect(await h.runtime.deleteJob({ name: job.name })).toEqual(expect.objectContaining({}));
    expect(await failure(h.runtime.getJob({ name: job.name }))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect(await listed()).toEqual([other.name]);
    expect(await failure(h.runtime.deleteJob({ name: job.name }))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect((await h.store.getDataset({ name: output })).dataset?.name).toBe(output);

    const deletions = (await eventsSoFar(h.bus)).filter((e) => e.subject === "kiln.runtime.v1.job.deleted");
    expect(deletions.map((e) => e.event.job?.name)).toEqual([job.name]);
    expect(deletions[0]!.event.job?.state).toBe(JobState.CANCELLED);
  });

  it("refuses a job still queued or running (cancel it first), a bad name and an unknown job, changing nothing", async () => {
    h = await startHarness();
    const queued = await submitNoop(h);
    const running = await submitNoop(h);
    await h.executor.startAttempt({ name: running.name, executor: E1 });
    for (const [job, state] of [[queued, "queued"], [running, "running"]] as const) {
      const refused = await failure(h.runtime.deleteJob({ name: job.name }));
      expect(refused).toMatchObject({ code: Code.FailedPrecondition, reason: "JOB_NOT_OVER" });
      expect(refused.message).toContain(`is ${state}`);
      expect(refused.message).toContain("cancel it first");
      expect(await exists(job.name)).toBe(true);
    }
    expect(await failure(h.runtime.deleteJob({ name: "jobs/x" }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    expect(await failure(h.runtime.deleteJob({ name: `${PROJECT}/jobs/nope` }))).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND" });
    expect((await listed()).sort()).toEqual([queued.name, running.name].sort());
  });

  it("a deleted job's request_id makes a new job; before the delete it returns the first", async () => {
    h = await startHarness();
    const requestId = uniqueName("req");
    const first = await cancelled({}, requestId);
    expect(first.requestId).toBe(requestId);
    expect((await submitNoop(h, {}, requestId)).name).toBe(first.name);

    await h.runtime.deleteJob({ name: first.name });
    const second = await submitNoop(h, {}, requestId);
    expect(second.name).not.toBe(first.name);
    expect(second).toMatchObject({ state: JobState.QUEUED, requestId });
    expect((await submitNoop(h, {}, requestId)).name).toBe(second.name);
  });

  it("PurgeJobs counts the jobs that ended before a time without force, deletes them with it, and keeps the rest", async () => {
    h = await startHarness();
    const old = [await cancelled(), await succeeded(), await failed()];
    h.clock.advance(HOUR);
    const cutoff = timestampFromDate(h.clock.now());
    h.clock.advance(HOUR);
    const recent = await cancelled();
    const queued = await submitNoop(h);

    const dry = await h.runtime.purgeJobs({ parent: PROJECT, endBefore: cutoff });
    expect(dry.purgeCount).toBe(3n);
    expect(dry.purgeSample).toEqual(old.map((j) => j.name));
    for (const job of old) expect(await exists(job.name)).toBe(true);

    const onlyFailed = await h.runtime.purgeJobs({ parent: PROJECT, endBefore: cutoff, states: [JobState.FAILED], force: true });
    expect(onlyFailed).toMatchObject({ purgeCount: 1n, purgeSample: [old[2]!.name] });
    const rest = await h.runtime.purgeJobs({ parent: PROJECT, endBefore: cutoff, force: true });
    expect(rest).toMatchObject({ purgeCount: 2n, purgeSample: [old[0]!.name, old[1]!.name] });
    expect((await listed()).sort()).toEqual([recent.name, queued.name].sort());

    // Up to now: the recent job that ended; the queued one is not over.
    const now = await h.runtime.purgeJobs({ parent: PROJECT, endBefore: timestampFromDate(h.clock.now()), force: true });
    expect(now.purgeSample).toEqual([recent.name]);
    expect(await listed()).toEqual([queued.name]);
  });

  it("PurgeJobs with max_count deletes that many, the oldest, and the next call the rest", async () => {
    h = await startHarness();
    const ended: Job[] = [];
    for (let i = 0; i < 5; i++) ended.push(await cancelled());
    const endBefore = timestampFromDate(new Date(h.clock.now().getTime() + 1000));
    expect((await h.runtime.purgeJobs({ parent: PROJECT, endBefore, maxCount: 2n })).purgeCount).toBe(5n); // a dry run counts them all
    expect(await h.runtime.purgeJobs({ parent: PROJECT, endBefore, force: true, maxCount: 2n })).toMatchObject({ purgeCount: 2n, purgeSample: [ended[0]!.name, ended[1]!.name] });
    expect(await listed()).toEqual(ended.slice(2).map((j) => j.name).reverse());
    expect((await h.runtime.purgeJobs({ parent: PROJECT, endBefore, force: true, maxCount: 10n })).purgeCount).toBe(3n);
    expect(await failure(h.runtime.purgeJobs({ parent: PROJECT, endBefore, force: true, maxCount: -1n }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_MAX_COUNT" });
  });

  it("PurgeJobs filters by model and label, and refuses a purge without end_before or of open states", async () => {
    h = await startHarness();
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    const { job: predict } = await h.runtime.submitJob({ parent: PROJECT, job: { kind: 3, model, x: { dataset: x } } });
    await h.runtime.cancelJob({ name: predict!.name });
    const gpu = await cancelled({ requiredLabels: ["gpu"] });
    const plain = await cancelled();
    const endBefore = timestampFromDate(new Date(h.clock.now().getTime() + 1000));

    expect((await h.runtime.purgeJobs({ parent: PROJECT, endBefore, model })).purgeSample).toEqual([predict!.name]);
    expect((await h.runtime.purgeJobs({ parent: PROJECT, endBefore, label: "gpu" })).purgeSample).toEqual([gpu.name]);
    expect((await h.runtime.purgeJobs({ parent: PROJECT, endBefore })).purgeCount).toBe(3n);

    expect(await failure(h.runtime.purgeJobs({ parent: PROJECT, force: true }))).toMatchObject({ code: Code.InvalidArgument, reason: "END_BEFORE_REQUIRED" });
    const open = await failure(h.runtime.purgeJobs({ parent: PROJECT, endBefore, states: [JobState.RUNNING], force: true }));
    expect(open).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_STATE" });
    expect(open.message).toContain("RUNNING");
    expect(await failure(h.runtime.purgeJobs({ parent: "nope", endBefore, force: true }))).toMatchObject({ code: Code.InvalidArgument });
    expect((await listed()).sort()).toEqual([predict!.name, gpu.name, plain.name].sort());
  });

  it("with KILN_JOB_RETENTION_MS, an executor's heartbeat sweeps the jobs of every project that ended longer ago", async () => {
    h = await startHarness({ settings: { jobRetentionMs: 2 * HOUR } });
    const old = await cancelled();
    const { job: elsewhere } = await h.runtime.submitJob({ parent: "projects/other", job: { kind: 7 } });
    await h.runtime.cancelJob({ name: elsewhere!.name });
    const longRunning = await submitNoop(h);
    await h.executor.startAttempt({ name: longRunning.name, executor: E1 });
    h.clock.advance(HOUR);
    const younger = await cancelled();
    const heartbeat = () => h.executor.heartbeat({ executor: { name: E1, slots: 1, runningJobs: [longRunning.name] } });

    await heartbeat();
    await new Promise((r) => setTimeout(r, 100));
    expect(await exists(old.name)).toBe(true); // one hour is within the retention

    h.clock.advance(1.5 * HOUR);
    await heartbeat();
    await expect.poll(() => exists(old.name)).toBe(false);
    await expect.poll(() => exists(elsewhere!.name)).toBe(false);
    expect(await exists(younger.name)).toBe(true);
    expect(await exists(longRunning.name)).toBe(true);
  });

  it("without a retention, jobs stay however old", async () => {
    h = await startHarness();
    const old = await cancelled();
    h.clock.advance(1000 * 24 * HOUR);
    await h.executor.heartbeat({ executor: { name: E1, slots: 1 } });
    await new Promise((r) => setTimeout(r, 100));
    expect(await exists(old.name)).toBe(true);
  });
});

describe("the indexes of open jobs and of jobs by model", () => {
  let h: Harness;
  afterEach(async () => h?.close());

  const open = () => h.metadata.collection("runtime_open_jobs");
  const byModel = () => h.metadata.collection("runtime_model_jobs");

  it("lists queued and running jobs from the index, newest first and a page at a time, and holds only open jobs", async () => {
    h = await startHarness();
    const queued: string[] = [];
    for (let i = 0; i < 5; i++) {
      queued.push((await submitNoop(h)).name);
      const done = await submitNoop(h);
      await h.runtime.cancelJob({ name: done.name });
    }
    await h.executor.startAttempt({ name: queued[1]!, executor: E1 });

    const pages: string[][] = [];
    let pageToken = "";
    do {
      const page = await h.runtime.listJobs({ parent: PROJECT, states: [JobState.QUEUED, JobState.RUNNING], pageSize: 2, pageToken });
      pages.push(page.jobs.map((j) => j.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(pages).toEqual([
      [queued[4], queued[3]],
      [queued[2], queued[1]],
      [queued[0]],
    ]);
    expect((await h.runtime.listJobs({ parent: PROJECT, states: [JobState.RUNNING] })).jobs.map((j) => j.name)).toEqual([queued[1]]);
    expect((await open().list()).map((e) => e.key)).toEqual(queued);
  });

  it("skips and, on a restart, drops entries left behind (a job gone, or ended before its entry went)", async () => {
    h = await startHarness();
    const job = await submitNoop(h);
    const ended = await submitNoop(h);
    await h.runtime.cancelJob({ name: ended.name });
    await open().create(ended.name, {});
    await open().create(`${PROJECT}/jobs/0000000000gone0000`, {});

    expect((await h.runtime.listJobs({ parent: PROJECT, states: [JobState.QUEUED, JobState.CANCELLED] })).jobs.map((j) => j.name)).toEqual([ended.name, job.name]);
    expect((await h.runtime.listJobs({ parent: PROJECT, states: [JobState.QUEUED] })).jobs.map((j) => j.name)).toEqual([job.name]);

    expect(await requeueAfterRestart(h.scheduler)).toBe(1);
    expect((await open().list()).map((e) => e.key)).toEqual([job.name]);
  });

  it("lists a model's jobs from the index by model, newest first and a page at a time; a deleted job leaves it", async () => {
    h = await startHarness();
    const x = await makeDataset(h);
    const [m1, m2] = [await makeOnnxModel(h), await makeOnnxModel(h)];
    const predict = async (model: string) => (await h.runtime.submitJob({ parent: PROJECT, job: { kind: 3, model, x: { dataset: x } } })).job!;
    const ofM1: Job[] = [];
    for (let i = 0; i < 3; i++) {
      ofM1.push(await predict(m1));
      await predict(m2);
      await submitNoop(h);
      h.clock.advance(5);
    }
    const pages: string[][] = [];
    let pageToken = "";
    do {
      const page = await h.runtime.listJobs({ parent: PROJECT, model: m1, pageSize: 2, pageToken });
      pages.push(page.jobs.map((j) => j.name));
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(pages).toEqual([[ofM1[2]!.name, ofM1[1]!.name], [ofM1[0]!.name]]);
    expect(await byModel().count(`${m1}/jobs/`)).toBe(3);
    // Another project's listing of this model lists none of them.
    expect((await h.runtime.listJobs({ parent: "projects/other", model: m1 })).jobs).toEqual([]);

    await h.runtime.cancelJob({ name: ofM1[1]!.name });
    await h.runtime.deleteJob({ name: ofM1[1]!.name });
    expect((await h.runtime.listJobs({ parent: PROJECT, model: m1 })).jobs.map((j) => j.name)).toEqual([ofM1[2]!.name, ofM1[0]!.name]);
    expect(await byModel().count(`${m1}/jobs/`)).toBe(2);
  });

  it("are built once from the jobs a Kiln without them stored", async () => {
    h = await startHarness();
    const model = await makeOnnxModel(h);
    const { job: predict } = await h.runtime.submitJob({ parent: PROJECT, job: { kind: 3, model, x: { dataset: await makeDataset(h) } } });
    const queued = await submitNoop(h);
    const done = await submitNoop(h);
    await h.runtime.cancelJob({ name: done.name });
    // As a Kiln before the indexes left its metadata: jobs, no indexes.
    await open().deletePrefix("");
    await byModel().deletePrefix("");
    await h.metadata.collection("runtime_label_jobs").deletePrefix("");
    await h.metadata.collection("runtime_indexes").deletePrefix("");

    const other = await h.anotherScheduler();
    expect((await other.runtime.listJobs({ parent: PROJECT, states: [JobState.QUEUED] })).jobs.map((j) => j.name)).toEqual([queued.name, predict!.name]);
    expect((await other.runtime.listJobs({ parent: PROJECT, model })).jobs.map((j) => j.name)).toEqual([predict!.name]);
    expect((await open().list()).map((e) => e.key)).toEqual([predict!.name, queued.name]);
    expect(await h.metadata.collection("runtime_indexes").get("open-jobs")).toBeDefined();
    expect(await h.metadata.collection("runtime_indexes").get("jobs-by-model")).toBeDefined();
    expect(await h.metadata.collection("runtime_indexes").get("jobs-by-label")).toBeDefined();
  });

  it("lists a label's jobs from the index by label, a page at a time; a deleted job leaves it", async () => {
    h = await startHarness();
    const gpu: Job[] = [];
    for (let i = 0; i < 3; i++) {
      gpu.push(await submitNoop(h, { requiredLabels: ["gpu", "big"] }));
      await submitNoop(h, { requiredLabels: ["cpu"] });
      await submitNoop(h);
      h.clock.advance(5);
    }
    const byLabel = () => h.metadata.collection("runtime_label_jobs");
    const list = (pageToken = "") => h.runtime.listJobs({ parent: PROJECT, label: "gpu", pageSize: 2, pageToken });
    const first = await list();
    expect(first.jobs.map((j) => j.name)).toEqual([gpu[2]!.name, gpu[1]!.name]);
    expect((await list(first.nextPageToken)).jobs.map((j) => j.name)).toEqual([gpu[0]!.name]);
    expect(await byLabel().count(`${PROJECT}/labels/gpu/jobs/`)).toBe(3);
    expect(await byLabel().count(`${PROJECT}/labels/big/jobs/`)).toBe(3);
    expect((await h.runtime.listJobs({ parent: "projects/other", label: "gpu" })).jobs).toEqual([]);

    await h.runtime.cancelJob({ name: gpu[1]!.name });
    await h.runtime.deleteJob({ name: gpu[1]!.name });
    expect((await h.runtime.listJobs({ parent: PROJECT, label: "gpu" })).jobs.map((j) => j.name)).toEqual([gpu[2]!.name, gpu[0]!.name]);
    expect(await byLabel().count(`${PROJECT}/labels/`)).toBe(7); // gpu and big 2 each, cpu 3
  });
});
