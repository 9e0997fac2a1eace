import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "@kiln/core";
import { BackfilledRunSchema, type BackfilledRun, type BackfillScheduleRequest } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { nowOf, type Scheduler } from "./job-store.js";
import { submitOccurrence } from "./schedule-runner.js";
import { nextTime, readSchedule } from "./schedules.js";

/** The times one backfill may submit. */
export const MAX_BACKFILL_TIMES = 1000;

/** BackfillSchedule: the job of each time the cron names in the range, oldest first, each submitted on its own. */
export async function backfillSchedule(s: Scheduler, req: BackfillScheduleRequest): Promise<BackfilledRun[]> {
  const { schedule } = await readSchedule(s, req.name);
  if (!req.startTime || !req.endTime) throw invalidArgument("INVALID_RANGE", "start_time and end_time are required");
  const start = timestampDate(req.startTime);
  const end = timestampDate(req.endTime);
  if (end < start) throw invalidArgument("INVALID_RANGE", `end_time ${end.toISOString()} is before start_time ${start.toISOString()}`);
  if (end > nowOf(s)) throw invalidArgument("BACKFILL_IN_FUTURE", `end_time ${end.toISOString()} is after now: the scheduler submits the times to come`);
  const times: Date[] = [];
  // nextTime gives the first time after its argument: a millisecond before the start takes the start itself.
  for (let t = nextTime(schedule, new Date(start.getTime() - 1)); t && t <= end; t = nextTime(schedule, t)) {
    if (times.length === MAX_BACKFILL_TIMES) throw invalidArgument("TOO_MANY_TIMES", `the cron names more than ${MAX_BACKFILL_TIMES} times from ${start.toISOString()} to ${end.toISOString()}: backfill a shorter range`);
    times.push(t);
  }
  const runs: BackfilledRun[] = [];
  for (const time of times) {
    const run = create(BackfilledRunSchema, { time: timestampFromDate(time) });
    try {
      run.job = await submitOccurrence(s, schedule, time);
    } catch (e) {
      run.error = e instanceof Error ? e.message : String(e);
    }
    runs.push(run);
  }
  s.logger.info({ schedule: schedule.name, times: times.length, refused: runs.filter((r) => r.error).length }, "schedule backfilled");
  return runs;
}
