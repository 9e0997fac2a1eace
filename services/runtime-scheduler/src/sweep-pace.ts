import { nowOf, type Scheduler } from "./job-store.js";

/**
 * The pace of a sweep that rides on executors' heartbeats, per scheduler: the function it
 * returns answers the scheduler's time (epoch ms) when the sweep last ran longer than
 * `everyMs` ago, counting it as run now, and undefined while it is not due.
 */
export function sweepPace(): (s: Scheduler, everyMs: number) => number | undefined {
  const last = new WeakMap<Scheduler, number>();
  return (s, everyMs) => {
    const now = nowOf(s).getTime();
    if (now - (last.get(s) ?? -Infinity) < everyMs) return undefined;
    last.set(s, now);
    return now;
  };
}
