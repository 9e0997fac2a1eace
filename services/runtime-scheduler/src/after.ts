import { failedPrecondition, invalidArgument, notFound } from "@kiln/core";
import { JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { decodeJob, jobs, type Scheduler } from "./job-store.js";
import { parseJobName } from "./names.js";

/** Jobs one job may run after. */
export const MAX_AFTER = 100;

/** A job's `after` checked: the names (unique, in order) and those jobs that have not succeeded yet. */
export interface CheckedAfter {
  names: string[];
  waiting: Job[];
}

/**
 * The jobs a new job runs after must be of its project and exist; one that failed or was
 * cancelled already fails the submit, since the job would never run.
 */
export async function checkAfter(s: Scheduler, project: string, after: readonly string[]): Promise<CheckedAfter> {
  const names = [...new Set(after)];
  if (names.length === 0) return { names, waiting: [] };
  if (names.length > MAX_AFTER) throw invalidArgument("TOO_MANY_AFTER", `a job may run after at most ${MAX_AFTER} jobs, got ${names.length}`);
  for (const name of names) {
    if (parseJobName(name).project !== project) throw invalidArgument("CROSS_PROJECT", `job.after names ${name}, which is not in ${project}`);
  }
  const stored = await jobs(s).getMany(names);
  const waiting: Job[] = [];
  stored.forEach((record, i) => {
    const name = names[i]!;
    if (!record) throw notFound("JOB_NOT_FOUND", `job.after names ${name}, which does not exist`, { job: name });
    const job = decodeJob(record.value);
    if (job.state === JobState.FAILED || job.state === JobState.CANCELLED) {
      const [state, reason] = job.state === JobState.FAILED ? ["failed", "AFTER_JOB_FAILED"] : ["was cancelled", "AFTER_JOB_CANCELLED"];
      throw failedPrecondition(reason, `job.after names ${name}, which ${state}, so this job would never run`, { job: name });
    }
    if (job.state !== JobState.SUCCEEDED) waiting.push(job);
  });
  return { names, waiting };
}
