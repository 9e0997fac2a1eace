import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { alreadyExists, checkId, invalidArgument, isKilnError, notFound, parseParent, printable } from "@kiln/core";
import { JobSchema, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { ScheduleSchema, type CreateScheduleRequest, type ListSchedulesRequest, type Schedule, type UpdateScheduleRequest } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { scanPage } from "@kiln/storage";
import { Cron } from "croner";
import type { SchedulerDeps } from "./deps.js";
import { protoRecords } from "./proto-records.js";
import { markDue, scheduleDueKey, unmarkDue } from "./schedule-due.js";
import { scheduleHolds, syncHolds } from "./model-version-holds.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { parseResourceName } from "./names.js";
import { checkJobSpec } from "./submit.js";
import { changeUnderRevision, checkUpdateMask } from "./updates.js";

const MUTABLE = new Set(["cron", "time_zone", "job", "paused", "catch_up"]);
const DEFAULT_TIME_ZONE = "UTC";

const records = protoRecords("runtime_schedules", ScheduleSchema);
export const schedules = records.of;
export const decodeSchedule = records.decode;
export const encodeSchedule = records.encode;

export async function allSchedules(deps: SchedulerDeps): Promise<Schedule[]> {
  return (await schedules(deps).list({ prefix: "projects/" })).map((r) => decodeSchedule(r.value));
}

export function parseScheduleName(name: string): { project: string; id: string } {
  return parseResourceName(name, "schedules");
}

/** The first time after `after` the schedule's expression names, in its time zone. */
export function nextTime(schedule: Pick<Schedule, "cron" | "timeZone">, after: Date): Date | undefined {
  return new Cron(schedule.cron, { timezone: schedule.timeZone || DEFAULT_TIME_ZONE, paused: true }).nextRun(after) ?? undefined;
}

export async function readSchedule(s: Scheduler, name: string): Promise<{ schedule: Schedule; rev: number }> {
  parseScheduleName(name);
  const stored = await schedules(s).get(name);
  if (!stored) throw notFound("SCHEDULE_NOT_FOUND", `schedule ${name} does not exist`, { schedule: name });
  return { schedule: decodeSchedule(stored.value), rev: stored.rev };
}

/** `caller`: who creates it; its jobs are submitted as theirs. */
export async function createSchedule(s: Scheduler, req: CreateScheduleRequest, caller = ""): Promise<Schedule> {
  const project = parseParent(req.parent);
  if (!req.scheduleId) throw invalidArgument("SCHEDULE_ID_REQUIRED", "schedule_id is required");
  const name = `${project}/schedules/${checkId(req.scheduleId, "schedule")}`;
  const now = nowOf(s);
  const schedule = create(ScheduleSchema, { name, createTime: timestampFromDate(now), updateTime: timestampFromDate(now), creator: caller, updater: caller });
  await applySpec(s, project, schedule, req.schedule ?? create(ScheduleSchema), MUTABLE, now);
  await markDue(s, schedule);
  try {
    await schedules(s).create(name, encodeSchedule(schedule));
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("SCHEDULE_EXISTS", `schedule ${name} already exists`, { schedule: name });
    throw e;
  }
  await syncHolds(s, name, scheduleHolds(schedule));
  s.logger.info({ schedule: name, cron: schedule.cron, timeZone: schedule.timeZone }, "schedule created");
  return schedule;
}

export async function listSchedules(s: Scheduler, req: ListSchedulesRequest): Promise<{ schedules: Schedule[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const page = await scanPage(schedules(s), { prefix: `${project}/schedules/`, pageSize: req.pageSize, pageToken: req.pageToken, filterText: "" });
  return { schedules: page.items.map(decodeSchedule), nextPageToken: page.nextPageToken };
}

export async function updateSchedule(s: Scheduler, req: UpdateScheduleRequest, caller = ""): Promise<Schedule> {
  if (!req.schedule) throw invalidArgument("SCHEDULE_REQUIRED", "schedule is required");
  const { project } = parseScheduleName(req.schedule.name);
  checkUpdateMask(req.updateMask, MUTABLE);
  const given = req.schedule;
  let before: string | undefined;
  let heldBefore: string[] = [];
  const schedule = await changeUnderRevision(
    async () => {
      const { schedule, rev } = await readSchedule(s, given.name);
      return { value: schedule, rev };
    },
    (schedule, rev) => schedules(s).update(schedule.name, encodeSchedule(schedule), rev),
    async (schedule) => {
      before = scheduleDueKey(schedule);
      heldBefore = scheduleHolds(schedule);
      const now = nowOf(s);
      await applySpec(s, project, schedule, given, new Set(req.updateMask), now);
      schedule.updateTime = timestampFromDate(now);
      schedule.updater = caller;
      await markDue(s, schedule);
    },
  );
  await unmarkDue(s, before, schedule);
  if (heldBefore.join() !== scheduleHolds(schedule).join()) await syncHolds(s, schedule.name, scheduleHolds(schedule));
  return schedule;
}

export async function deleteSchedule(s: Scheduler, name: string): Promise<void> {
  const { schedule, rev } = await readSchedule(s, name);
  if (!(await schedules(s).delete(name, rev))) throw notFound("SCHEDULE_NOT_FOUND", `schedule ${name} does not exist`, { schedule: name });
  await unmarkDue(s, scheduleDueKey(schedule));
  await syncHolds(s, name, []);
}

/** Copies the fields of `fields` from `given` into `into`, checked; the next time follows from them. */
async function applySpec(s: Scheduler, project: string, into: Schedule, given: Schedule, fields: Set<string>, now: Date): Promise<void> {
  if (fields.has("cron")) into.cron = given.cron.trim();
  if (fields.has("time_zone")) into.timeZone = given.timeZone || DEFAULT_TIME_ZONE;
  if (fields.has("paused")) into.paused = given.paused;
  if (fields.has("catch_up")) into.catchUp = given.catchUp;
  if (!into.cron) throw invalidArgument("CRON_REQUIRED", "schedule.cron is required, e.g. \"0 2 * * *\" for 02:00 every day");
  checkTimeZone(into.timeZone);
  let next: Date | undefined;
  try {
    next = nextTime(into, now);
  } catch (e) {
    throw invalidArgument("INVALID_CRON", `schedule.cron "${printable(into.cron)}" is not a cron expression (minute hour day-of-month month day-of-week, or seconds first): ${(e as Error).message}`);
  }
  if (!next) throw invalidArgument("INVALID_CRON", `schedule.cron "${printable(into.cron)}" names no time from now on`);
  if (fields.has("job")) {
    if (!given.job) throw invalidArgument("JOB_REQUIRED", "schedule.job is required: the job to submit, as SubmitJob takes it");
    await checkJobSpec(s, project, create(JobSchema, given.job), into.timeZone);
    into.job = jobTemplate(given.job);
  }
  // Changed or resumed, it goes on from now: times missed while paused are not made up.
  into.nextRunTime = into.paused ? undefined : timestampFromDate(next);
}

/** What a schedule keeps of a job: what a submit reads, as given ("latest" stays "latest"). */
function jobTemplate(job: Job): Job {
  return create(JobSchema, {
    kind: job.kind,
    model: job.model,
    x: job.x,
    y: job.y,
    params: job.params,
    requiredLabels: job.requiredLabels,
    timeout: job.timeout,
    maxAttempts: job.maxAttempts,
    outputDataset: job.outputDataset,
    keepColumns: job.keepColumns,
    reuse: job.reuse,
  });
}

function checkTimeZone(zone: string): void {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
  } catch {
    throw invalidArgument("INVALID_TIME_ZONE", `schedule.time_zone "${printable(zone)}" is not an IANA time zone (e.g. "UTC", "Europe/Berlin")`);
  }
}

/** When a schedule is next due, as a Date (undefined while paused). */
export function dueAt(schedule: Schedule): Date | undefined {
  return schedule.nextRunTime ? timestampDate(schedule.nextRunTime) : undefined;
}
