import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { isKilnError, KilnError } from "@kiln/core";
import { SubmitJobRequestSchema, type SubmitJobRequest } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Schedule } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { nowOf, type Scheduler } from "./job-store.js";
import { everyTick } from "./ticker.js";
import { decodeSchedule, dueAt, encodeSchedule, nextTime, parseScheduleName, schedules } from "./schedules.js";
import { expandTemplates } from "./schedule-templates.js";
import { dueEntries, dueIndex, dueKey, markDue, unmarkDue } from "./schedule-due.js";
import { submitJobs, type JobOrigin } from "./submit.js";

/** How often the scheduler looks for schedules that are due. */
const TICK_MS = 500;
/** The jobs a schedule names as its last ones. */
const RECENT_JOBS = 20;
/** Schedules a tick takes at most; more due wait for the next. */
const DUE_PER_TICK = 1000;
/** An index entry whose schedule is not due at its time is dropped this long after that time. */
const STALE_AFTER_MS = 60_000;

/**
 * Submits the jobs of the schedules that are due, every TICK_MS, until stopped. Each
 * occurrence's job is submitted with a request_id made from the schedule and the time it
 * was due, so schedulers that find it due together (or one that submits again after a
 * crash before it moved the schedule on) make one job.
 */
export function startSchedules(s: Scheduler): { stop(): Promise<void> } {
  return everyTick(TICK_MS, () => runDueSchedules(s), s.logger, "running the schedules that are due failed; the next tick tries again");
}

/** Submits every due schedule's job once and moves each on to its next time; returns how many were due. */
export async function runDueSchedules(s: Scheduler): Promise<number> {
  const now = nowOf(s);
  const entries = await dueEntries(s, now, DUE_PER_TICK);
  const found = await schedules(s).getMany(entries.map((e) => e.name));
  const due: { name: string; at: Date }[] = [];
  const stale: string[] = [];
  entries.forEach((entry, i) => {
    const schedule = found[i] && decodeSchedule(found[i].value);
    if (schedule && !schedule.paused && dueAt(schedule)?.getTime() === entry.due.getTime()) due.push({ name: entry.name, at: entry.due });
    // Left by a crash, or by a write still under way: dropped once it is surely the former.
    else if (now.getTime() - entry.due.getTime() > STALE_AFTER_MS) stale.push(entry.key);
  });
  await Promise.all(stale.map((key) => dueIndex(s).delete(key)));
  for (const { name, at } of due) {
    await runOnce(s, name, at).catch((e: unknown) => s.logger.warn({ err: e, schedule: name }, "a due schedule could not be run; the next tick tries again"));
  }
  return due.length;
}

/** Errors a later try may not meet (a service away, a write that lost a race): the occurrence is tried again, not given up. */
function transient(e: unknown): boolean {
  const code = e instanceof KilnError || e instanceof ConnectError ? e.code : Code.Internal;
  return [Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Internal, Code.Unknown, Code.ResourceExhausted].includes(code);
}

async function runOnce(s: Scheduler, name: string, due: Date): Promise<void> {
  const found = await schedules(s).get(name);
  if (!found) return;
  const template = decodeSchedule(found.value);
  // Moved on, paused or changed since it was listed: nothing is due at that time any more.
  if (template.paused || dueAt(template)?.getTime() !== due.getTime()) return;
  // Without catch_up, times missed while no scheduler ran are not made up: this one, then the next after now.
  const times = template.catchUp ? missedTimes(template, due, nowOf(s)) : [due];
  const made: string[] = [];
  let job = "";
  let error = "";
  for (const time of times) {
    try {
      job = await submitOccurrence(s, template, time);
      error = "";
      made.push(job);
    } catch (e) {
      // The same request_ids next tick: still one job a time however often they are tried.
      if (transient(e)) throw e;
      job = "";
      error = e instanceof Error ? e.message : String(e);
      s.logger.warn({ schedule: name, due: time, error }, "a schedule's job was refused; the schedule goes on");
    }
  }
  const last = times.at(-1)!;
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await schedules(s).get(name);
    if (!current) return;
    const schedule = decodeSchedule(current.value);
    if (dueAt(schedule)?.getTime() !== due.getTime()) return; // another scheduler recorded it
    const next = nextTime(schedule, new Date(Math.max(nowOf(s).getTime(), last.getTime())));
    schedule.nextRunTime = next ? timestampFromDate(next) : undefined;
    schedule.lastRunTime = timestampFromDate(last);
    schedule.lastJob = job;
    schedule.lastError = error;
    schedule.runCount += BigInt(made.length);
    schedule.recentJobs = [...new Set([...made.reverse(), ...schedule.recentJobs])].slice(0, RECENT_JOBS);
    await markDue(s, schedule);
    try {
      await schedules(s).update(name, encodeSchedule(schedule), current.rev);
      await unmarkDue(s, dueKey(name, due), schedule);
      return;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
}

/** Made up at most, of the times a schedule with catch_up missed: the last ones. */
export const MAX_CATCH_UP = 1000;

/** `due` and the times after it up to now, the last MAX_CATCH_UP of them. */
export function missedTimes(schedule: Pick<Schedule, "cron" | "timeZone">, due: Date, now: Date): Date[] {
  const times = [due];
  for (let t = nextTime(schedule, due); t && t <= now; t = nextTime(schedule, t)) {
    times.push(t);
    if (times.length > 2 * MAX_CATCH_UP) times.splice(0, MAX_CATCH_UP); // keeps memory bounded on a long gap
  }
  return times.slice(-MAX_CATCH_UP);
}

/**
 * Submits the schedule's job for the time `due` (its dates filled in), as the schedule's
 * creator, with a request_id made from the schedule and the time: however often, and by
 * whichever scheduler or backfill, one job a time.
 */
export async function submitOccurrence(s: Scheduler, schedule: Schedule, due: Date): Promise<string> {
  const { project } = parseScheduleName(schedule.name);
  const requestId = `schedule-${createHash("sha256").update(`${schedule.name}@${due.toISOString()}`).digest("hex").slice(0, 40)}`;
  const occurrence = expandTemplates(schedule.job!, due, schedule.timeZone);
  return submitWhileInFlight(s, project, create(SubmitJobRequestSchema, { parent: project, job: occurrence, requestId }), { creator: schedule.creator, schedule: schedule.name });
}

/** Submits the occurrence's job; while another scheduler is submitting it (its request_id taken, the job not stored yet), asks again for that job. */
async function submitWhileInFlight(s: Scheduler, project: string, req: SubmitJobRequest, origin: JobOrigin): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const [submitted] = await submitJobs(s, project, [req], false, origin);
      return submitted!.name;
    } catch (e) {
      if (!(e instanceof KilnError && e.reason === "REQUEST_IN_FLIGHT") || attempt >= 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
