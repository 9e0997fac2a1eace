import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Schedule } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { MAX_CATCH_UP, missedTimes, runDueSchedules } from "../src/schedule-runner.js";
import { dueIndex } from "../src/schedule-due.js";
import { failure, makeDataset, makeOnnxModel, PROJECT, startHarness, uniqueName, type Harness } from "./harness.js";

const at = (iso: string) => new Date(iso);
const time = (t: Schedule["nextRunTime"]) => (t ? timestampDate(t).toISOString() : undefined);

describe("schedules: jobs submitted on a cron", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const create = async (id: string, schedule: Parameters<Harness["schedules"]["createSchedule"]>[0]["schedule"]) =>
    (await h.schedules.createSchedule({ parent: PROJECT, scheduleId: id, schedule })).schedule!;
  const get = async (id: string) => (await h.schedules.getSchedule({ name: `${PROJECT}/schedules/${id}` })).schedule!;

  it("submits each time's job once, moves on to the next time, and records what it made", async () => {
    h.clock.freeze(at("2026-12-05T01:59:59Z"));
    const made = await create("nightly", { cron: "0 2 * * *", job: { kind: JobKind.NOOP } });
    expect(made).toMatchObject({ name: `${PROJECT}/schedules/nightly`, cron: "0 2 * * *", timeZone: "UTC", paused: false, runCount: 0n, lastJob: "" });
    expect(time(made.nextRunTime)).toBe("2026-12-05T02:00:00.000Z");
    expect(await runDueSchedules(h.scheduler)).toBe(0);

    h.clock.advance(1000);
    // Two ticks that find it due together (two schedulers, say) make one job.
    expect(await Promise.all([runDueSchedules(h.scheduler), runDueSchedules(h.scheduler)])).toEqual([1, 1]);
    const ran = await get("nightly");
    expect(ran).toMatchObject({ runCount: 1n, lastError: "" });
    expect(time(ran.lastRunTime)).toBe("2026-12-05T02:00:00.000Z");
    expect(time(ran.nextRunTime)).toBe("2026-12-06T02:00:00.000Z");
    const jobs = (await h.runtime.listJobs({ parent: PROJECT })).jobs;
    expect(jobs.map((j) => j.name)).toEqual([ran.lastJob]);
    expect(jobs[0]!.requestId).toMatch(/^schedule-[0-9a-f]{40}$/);
    expect(await runDueSchedules(h.scheduler)).toBe(0);

    // Days missed (no scheduler running) are not made up: one job, then the next time after now.
    h.clock.freeze(at("2026-12-09T13:00:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(1);
    const later = await get("nightly");
    expect(later.runCount).toBe(2n);
    expect(time(later.lastRunTime)).toBe("2026-12-06T02:00:00.000Z");
    expect(time(later.nextRunTime)).toBe("2026-12-10T02:00:00.000Z");
    expect(later.recentJobs).toEqual([later.lastJob, ran.lastJob]);
  });

  it("makes up the times missed while no scheduler ran when asked to (catch_up), oldest first, the last 1,000 at most", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    await create("hourly", { cron: "0 * * * *", catchUp: true, job: { kind: JobKind.NOOP, params: { day: "{{date}}" } } });
    h.clock.freeze(at("2026-12-05T05:30:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(1);
    const caught = await get("hourly");
    expect(caught).toMatchObject({ catchUp: true, runCount: 5n, lastError: "" });
    expect(time(caught.lastRunTime)).toBe("2026-12-05T05:00:00.000Z");
    expect(time(caught.nextRunTime)).toBe("2026-12-05T06:00:00.000Z");
    const jobs = (await h.runtime.listJobs({ parent: PROJECT, schedule: `${PROJECT}/schedules/hourly` })).jobs;
    expect(jobs.map((j) => j.name).sort()).toEqual([...caught.recentJobs].sort());
    expect(jobs).toHaveLength(5);
    // Each its own time's request_id: a second scheduler catching up the same times makes none more.
    expect(new Set(jobs.map((j) => j.requestId)).size).toBe(5);
    const gap = missedTimes({ cron: "* * * * *", timeZone: "UTC" }, at("2026-12-04T00:00:00Z"), at("2026-12-05T00:00:00Z"));
    expect(gap).toHaveLength(MAX_CATCH_UP);
    expect([gap[0]!.toISOString(), gap.at(-1)!.toISOString()]).toEqual(["2026-12-04T07:21:00.000Z", "2026-12-05T00:00:00.000Z"]);
  });

  it("reads the expression in its time zone, and takes seconds first", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    expect(time((await create("berlin", { cron: "0 2 * * *", timeZone: "Europe/Berlin", job: { kind: JobKind.NOOP } })).nextRunTime)).toBe("2026-12-05T01:00:00.000Z");
    expect(time((await create("often", { cron: "*/10 * * * * *", job: { kind: JobKind.NOOP } })).nextRunTime)).toBe("2026-12-05T00:00:10.000Z");
  });

  it("resolves the job's references at each submit: latest data, pinned then", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h, [{ a: 1, b: 2 }]);
    await create("hourly", { cron: "0 * * * *", job: { kind: JobKind.PREDICT, model, x: { dataset: x } } });
    h.clock.advance(3_600_000);
    await runDueSchedules(h.scheduler);
    const first = (await h.runtime.getJob({ name: (await get("hourly")).lastJob })).job!;
    await h.kiln.datasets.put(x.split("/").pop()!, [{ a: 3, b: 4 }]);
    h.clock.advance(3_600_000);
    await runDueSchedules(h.scheduler);
    const second = (await h.runtime.getJob({ name: (await get("hourly")).lastJob })).job!;
    expect([first.x!.version, second.x!.version]).toEqual([1n, 2n]);
    expect(first.model).toBe(`${model}/versions/1`);
    // The schedule keeps the job as given.
    expect((await get("hourly")).job!.x!.version).toBe(0n);
  });

  it("fills in the date each time is due: a dataset named by a date need not exist until then", async () => {
    h.clock.freeze(at("2026-12-05T00:30:00Z"));
    const model = await makeOnnxModel(h);
    const log = uniqueName("requests");
    const job = { kind: JobKind.PREDICT, model, x: { dataset: `${PROJECT}/datasets/${log}-{{date-1}}`, filter: 'day = "{{date-1}}"' }, params: { of: "{{date_nodash}}" } };
    const made = await create("daily", { cron: "0 1 * * *", timeZone: "Europe/Berlin", job });
    expect(made.job!.x!.dataset).toBe(`${PROJECT}/datasets/${log}-{{date-1}}`);
    await h.kiln.datasets.put(`${log}-2026-12-05`, [{ a: 1, b: 2, day: "2026-12-05" }]);
    // 01:00 in Berlin on the 6th is 00:00 UTC: the day before is the 5th.
    h.clock.freeze(at("2026-12-06T00:00:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(1);
    const ran = await get("daily");
    expect(ran.lastError).toBe("");
    const submitted = (await h.runtime.getJob({ name: ran.lastJob })).job!;
    expect(submitted.x).toMatchObject({ dataset: `${PROJECT}/datasets/${log}-2026-12-05`, version: 1n, filter: 'day = "2026-12-05"' });
    expect(submitted.params).toEqual({ of: "20261206" });
    expect(submitted.schedule).toBe(`${PROJECT}/schedules/daily`);
    // The next day's log is not there: refused, recorded, and the schedule goes on.
    h.clock.freeze(at("2026-12-07T00:00:00Z"));
    await runDueSchedules(h.scheduler);
    expect((await get("daily")).lastError).toMatch(new RegExp(`${log}-2026-12-06.*not found|not found.*${log}-2026-12-06`));
    // The jobs a schedule submitted, by the schedule.
    await create("other", { cron: "0 * * * *", job: { kind: JobKind.NOOP } });
    h.clock.freeze(at("2026-12-07T01:00:00Z"));
    await runDueSchedules(h.scheduler);
    const listed = (await h.runtime.listJobs({ parent: PROJECT, schedule: `${PROJECT}/schedules/daily` })).jobs;
    expect(listed.map((j) => j.name)).toEqual([submitted.name]);
    expect((await h.runtime.listJobs({ parent: PROJECT, schedule: `${PROJECT}/schedules/other` })).jobs).toHaveLength(1);
    expect(await failure(h.runtime.listJobs({ parent: PROJECT, schedule: "projects/elsewhere/schedules/daily" }))).toMatchObject({ code: Code.InvalidArgument, reason: "CROSS_PROJECT" });
  });

  it("keeps an index of when each is due: entries follow the schedules, stale ones go, and schedules stored before it get theirs", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    const entries = async () => (await dueIndex(h.scheduler).list({})).map((e) => e.key);
    await create("hourly", { cron: "0 * * * *", job: { kind: JobKind.NOOP } });
    await create("daily", { cron: "0 3 * * *", job: { kind: JobKind.NOOP } });
    expect(await entries()).toEqual([`2026-12-05T01:00:00.000Z|${PROJECT}/schedules/hourly`, `2026-12-05T03:00:00.000Z|${PROJECT}/schedules/daily`]);
    h.clock.freeze(at("2026-12-05T01:00:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(1);
    expect(await entries()).toEqual([`2026-12-05T02:00:00.000Z|${PROJECT}/schedules/hourly`, `2026-12-05T03:00:00.000Z|${PROJECT}/schedules/daily`]);
    await h.schedules.updateSchedule({ schedule: { name: `${PROJECT}/schedules/daily`, paused: true }, updateMask: ["paused"] });
    await h.schedules.deleteSchedule({ name: `${PROJECT}/schedules/hourly` });
    expect(await entries()).toEqual([]);

    // An entry a crash left (its schedule never stored): skipped, then dropped once surely stale.
    await dueIndex(h.scheduler).create(`2026-12-05T00:59:30.000Z|${PROJECT}/schedules/ghost`, {});
    expect(await runDueSchedules(h.scheduler)).toBe(0);
    expect(await entries()).toHaveLength(1);
    h.clock.freeze(at("2026-12-05T01:01:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(0);
    expect(await entries()).toEqual([]);

    // A store whose schedules came before the index: a scheduler that starts builds it once.
    await h.schedules.updateSchedule({ schedule: { name: `${PROJECT}/schedules/daily`, paused: false }, updateMask: ["paused"] });
    await dueIndex(h.scheduler).delete(`2026-12-05T03:00:00.000Z|${PROJECT}/schedules/daily`);
    await h.metadata.collection("runtime_indexes").delete("schedules-due");
    await h.anotherScheduler();
    expect(await entries()).toEqual([`2026-12-05T03:00:00.000Z|${PROJECT}/schedules/daily`]);
  });

  it("backfills the times of a past range, each once (the request_id the scheduler gives each time), its dates filled in", async () => {
    h.clock.freeze(at("2026-12-05T00:30:00Z"));
    const model = await makeOnnxModel(h);
    const log = uniqueName("requests");
    for (const day of ["2026-12-01", "2026-12-03"]) await h.kiln.datasets.put(`${log}-${day}`, [{ a: 1, b: 2 }]);
    await create("daily", { cron: "0 1 * * *", paused: true, job: { kind: JobKind.PREDICT, model, x: { dataset: `${PROJECT}/datasets/${log}-{{date-1}}` } } });
    const name = `${PROJECT}/schedules/daily`;
    const range = (from: string, to: string) => ({ name, startTime: timestampFromDate(at(from)), endTime: timestampFromDate(at(to)) });
    const { runs } = await h.schedules.backfillSchedule(range("2026-12-02T01:00:00Z", "2026-12-05T00:30:00Z"));
    expect(runs.map((r) => time(r.time))).toEqual(["2026-12-02T01:00:00.000Z", "2026-12-03T01:00:00.000Z", "2026-12-04T01:00:00.000Z"]);
    // Each reads the day before's log; the 2nd's is not there: that time alone is refused.
    expect(runs.map((r) => !!r.job)).toEqual([true, false, true]);
    expect(runs[1]!.error).toMatch(new RegExp(`${log}-2026-12-02.*not found|not found.*${log}-2026-12-02`));
    const jobs = await Promise.all([runs[0]!, runs[2]!].map(async (r) => (await h.runtime.getJob({ name: r.job })).job!));
    expect(jobs.map((j) => [j.x!.dataset, j.schedule])).toEqual([
      [`${PROJECT}/datasets/${log}-2026-12-01`, name],
      [`${PROJECT}/datasets/${log}-2026-12-03`, name],
    ]);
    expect(await get("daily")).toMatchObject({ runCount: 0n, lastJob: "" }); // its own record is the cron's
    // Again: the same jobs, none more.
    const again = await h.schedules.backfillSchedule(range("2026-12-02T00:00:00Z", "2026-12-04T01:00:00Z"));
    expect(again.runs.map((r) => r.job)).toEqual(runs.map((r) => r.job));
    expect((await h.runtime.listJobs({ parent: PROJECT, schedule: name })).jobs).toHaveLength(2);

    const refused = (req: ReturnType<typeof range>) => failure(h.schedules.backfillSchedule(req));
    expect(await refused(range("2026-12-04T00:00:00Z", "2026-12-06T00:00:00Z"))).toMatchObject({ code: Code.InvalidArgument, reason: "BACKFILL_IN_FUTURE" });
    expect(await refused(range("2026-12-04T00:00:00Z", "2026-12-03T00:00:00Z"))).toMatchObject({ reason: "INVALID_RANGE" });
    await create("often", { cron: "* * * * *", paused: true, job: { kind: JobKind.NOOP } });
    expect(await failure(h.schedules.backfillSchedule({ ...range("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"), name: `${PROJECT}/schedules/often` }))).toMatchObject({ reason: "TOO_MANY_TIMES" });
    expect(await failure(h.schedules.backfillSchedule({ ...range("2026-12-03T00:00:00Z", "2026-12-04T00:00:00Z"), name: `${PROJECT}/schedules/none` }))).toMatchObject({ code: Code.NotFound });
  });

  it("a job refused when due is recorded with why; the schedule goes on", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    await create("fragile", { cron: "0 * * * *", job: { kind: JobKind.PREDICT, model, x: { dataset: x } } });
    await h.kiln.datasets.drop(x.split("/").pop()!);
    h.clock.advance(3_600_000);
    expect(await runDueSchedules(h.scheduler)).toBe(1);
    const refused = await get("fragile");
    expect(refused).toMatchObject({ runCount: 0n, lastJob: "" });
    expect(refused.lastError).toMatch(/not found/);
    expect(time(refused.nextRunTime)).toBe("2026-12-05T02:00:00.000Z");
  });

  it("pauses (nothing due), resumes from the next time after now, changes its time, and is deleted (its jobs stay)", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    await create("weekly", { cron: "0 6 * * 1", job: { kind: JobKind.NOOP } });
    const name = `${PROJECT}/schedules/weekly`;
    const paused = (await h.schedules.updateSchedule({ schedule: { name, paused: true }, updateMask: ["paused"] })).schedule!;
    expect(paused.nextRunTime).toBeUndefined();
    h.clock.freeze(at("2026-12-20T00:00:00Z"));
    expect(await runDueSchedules(h.scheduler)).toBe(0);
    const resumed = (await h.schedules.updateSchedule({ schedule: { name, paused: false }, updateMask: ["paused"] })).schedule!;
    expect(time(resumed.nextRunTime)).toBe("2026-12-21T06:00:00.000Z");
    const moved = (await h.schedules.updateSchedule({ schedule: { name, cron: "30 7 * * *" }, updateMask: ["cron"] })).schedule!;
    expect(time(moved.nextRunTime)).toBe("2026-12-20T07:30:00.000Z");
    expect(moved.job!.kind).toBe(JobKind.NOOP);
    h.clock.freeze(at("2026-12-20T07:30:00Z"));
    await runDueSchedules(h.scheduler);
    const job = (await get("weekly")).lastJob;
    await h.schedules.deleteSchedule({ name });
    expect(await failure(get("weekly"))).toMatchObject({ code: Code.NotFound, reason: "SCHEDULE_NOT_FOUND" });
    expect((await h.runtime.getJob({ name: job })).job!.name).toBe(job);
    expect((await h.schedules.listSchedules({ parent: PROJECT })).schedules).toEqual([]);
  });

  it("refuses bad schedules with the right codes, storing nothing", async () => {
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    const job = { kind: JobKind.PREDICT, model, x: { dataset: x } };
    const refused = (id: string, schedule: Parameters<typeof create>[1]) => failure(create(id, schedule));
    expect(await refused("a", { cron: "61 * * * *", job })).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_CRON" });
    expect(await refused("a", { cron: "", job })).toMatchObject({ code: Code.InvalidArgument, reason: "CRON_REQUIRED" });
    expect(await refused("a", { cron: "0 * * * *", timeZone: "Mars/Base", job })).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_TIME_ZONE" });
    expect(await refused("a", { cron: "0 * * * *" })).toMatchObject({ code: Code.InvalidArgument, reason: "JOB_REQUIRED" });
    expect(await refused("a", { cron: "0 * * * *", job: { ...job, model: `${PROJECT}/models/${uniqueName("none")}` } })).toMatchObject({ code: Code.NotFound });
    expect(await refused("a", { cron: "0 * * * *", job: { kind: JobKind.PREDICT, model, x: { local: { case: "arrowIpc", value: new Uint8Array([1, 2]) } } } })).toMatchObject({ reason: "LOCAL_DATA_IN_SCHEDULE" });
    expect(await refused("a", { cron: "0 * * * *", job: { ...job, after: [`${PROJECT}/jobs/x`] } })).toMatchObject({ reason: "AFTER_IN_SCHEDULE" });
    expect(await refused("bad/id", { cron: "0 * * * *", job })).toMatchObject({ code: Code.InvalidArgument });
    expect(await refused("a", { cron: "0 * * * *", job: { ...job, x: { dataset: `${x}-{{ds}}` } } })).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_TEMPLATE" });
    expect(await refused("a", { cron: "0 * * * *", job: { ...job, x: { dataset: `${x}-{{date}}/x` } } })).toMatchObject({ code: Code.InvalidArgument });
    expect(await refused("a", { cron: "0 * * * *", job: { ...job, x: { dataset: `projects/elsewhere/datasets/d-{{date}}` } } })).toMatchObject({ reason: "CROSS_PROJECT" });
    expect((await h.schedules.listSchedules({ parent: PROJECT })).schedules).toEqual([]);
    await create("a", { cron: "0 * * * *", job });
    expect(await refused("a", { cron: "0 * * * *", job })).toMatchObject({ code: Code.AlreadyExists, reason: "SCHEDULE_EXISTS" });
    expect(await failure(h.schedules.updateSchedule({ schedule: { name: `${PROJECT}/schedules/a`, cron: "nope" }, updateMask: ["cron"] }))).toMatchObject({ reason: "INVALID_CRON" });
    expect(await failure(h.schedules.updateSchedule({ schedule: { name: `${PROJECT}/schedules/a` }, updateMask: ["creator"] }))).toMatchObject({ reason: "INVALID_UPDATE_MASK" });
    expect((await get("a")).cron).toBe("0 * * * *");
  });
});

describe("schedules: a store away when a job is due", () => {
  let h: Harness;
  let away = false;
  beforeEach(async () => {
    h = await startHarness({
      schedulerStore: (store) =>
        new Proxy(store, {
          get: (target, method) => (away ? () => Promise.reject(new ConnectError("store away", Code.Unavailable)) : Reflect.get(target, method)),
        }),
    });
  });
  afterEach(async () => h.close());

  it("tries the occurrence again at the next tick rather than give it up", async () => {
    h.clock.freeze(at("2026-12-05T00:00:00Z"));
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    await h.schedules.createSchedule({ parent: PROJECT, scheduleId: "patient", schedule: { cron: "0 * * * *", job: { kind: JobKind.PREDICT, model, x: { dataset: x } } } });
    h.clock.advance(3_600_000);
    away = true;
    await runDueSchedules(h.scheduler);
    const name = `${PROJECT}/schedules/patient`;
    const waiting = (await h.schedules.getSchedule({ name })).schedule!;
    expect(waiting).toMatchObject({ runCount: 0n, lastJob: "", lastError: "" });
    expect(time(waiting.nextRunTime)).toBe("2026-12-05T01:00:00.000Z");
    away = false;
    await runDueSchedules(h.scheduler);
    const ran = (await h.schedules.getSchedule({ name })).schedule!;
    expect(ran.runCount).toBe(1n);
    expect(time(ran.lastRunTime)).toBe("2026-12-05T01:00:00.000Z");
    expect((await h.runtime.listJobs({ parent: PROJECT })).jobs).toHaveLength(1);
  });
});
