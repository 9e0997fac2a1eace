import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Schedule } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import type { SchedulerDeps } from "./deps.js";
import { createIfAbsent, indexState } from "./job-indexes.js";

/**
 * The schedules by when each is due next, keyed `{ISO time}|{name}`, so a tick reads the
 * entries up to now rather than every schedule. An entry is written before its schedule
 * is stored with that time and removed after the schedule moved on, so a crash in between
 * leaves an entry behind, never a due schedule without one; readers check the schedule.
 */
export function dueIndex(deps: SchedulerDeps) {
  return deps.metadata.collection<Record<string, never>>("runtime_schedules_due");
}

export function dueKey(name: string, due: Date): string {
  return `${due.toISOString()}|${name}`;
}

/** The entry of a schedule's next time, if it has one (a paused one has none). */
export function scheduleDueKey(schedule: Schedule): string | undefined {
  const next = schedule.nextRunTime;
  return next ? dueKey(schedule.name, timestampDate(next)) : undefined;
}

/** Before the schedule is stored: the entry of its next time. */
export async function markDue(deps: SchedulerDeps, schedule: Schedule): Promise<void> {
  const key = scheduleDueKey(schedule);
  if (key) await createIfAbsent(dueIndex(deps), key, {});
}

/** After the schedule is stored (or deleted): the entry of the time it had, unless that is still its time. */
export async function unmarkDue(deps: SchedulerDeps, before: string | undefined, now?: Schedule): Promise<void> {
  if (before && before !== (now && scheduleDueKey(now))) await dueIndex(deps).delete(before);
}

/** Entries due by `now`, soonest first, at most `limit`. */
export async function dueEntries(deps: SchedulerDeps, now: Date, limit: number): Promise<{ key: string; name: string; due: Date }[]> {
  const entries = await dueIndex(deps).list({ limit });
  const cut = now.toISOString();
  return entries
    .filter(({ key }) => key.slice(0, key.indexOf("|")) <= cut)
    .map(({ key }) => {
      const bar = key.indexOf("|");
      return { key, name: key.slice(bar + 1), due: new Date(key.slice(0, bar)) };
    });
}

/** Entries for the schedules stored before the index, once per metadata store. Run before serving. */
export async function buildDueIndex(deps: SchedulerDeps, all: () => Promise<Schedule[]>): Promise<void> {
  if (await indexState(deps).get(DUE_INDEX)) return;
  for (const schedule of await all()) await markDue(deps, schedule);
  await createIfAbsent(indexState(deps), DUE_INDEX, { builtAt: new Date().toISOString() });
}

const DUE_INDEX = "schedules-due";
