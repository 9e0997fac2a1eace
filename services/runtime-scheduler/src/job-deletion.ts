import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import { aborted, failedPrecondition, invalidArgument, parseParent } from "@kiln/core";
import { JobState, PurgeJobsResponseSchema, type Job, type PurgeJobsRequest, type PurgeJobsResponse } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { decodeJob, isFinal, jobs, publishJobEvent, readJob, type Scheduler } from "./job-store.js";
import { sweepPace } from "./sweep-pace.js";
import { matchesJob, modelFilter } from "./jobs.js";
import { jobsPrefix, parseJobName } from "./names.js";
import { unindexJobs } from "./job-indexes.js";
import { forgetRequestId } from "./request-ids.js";
import { forgetResults } from "./reuse.js";

/** Jobs read per round of a purge. */
const PAGE = 500;
const SAMPLE = 100;
/** The prefix of every project's jobs. */
const EVERY_PROJECT = "projects/";
/** The retention sweep runs at most this often (on executors' heartbeats), and twice per retention when that is shorter. */
const SWEEP_EVERY_MS = 10 * 60_000;
const due = sweepPace();

/** Deletes a job that is over; FailedPrecondition for one still queued or running. */
export async function deleteJob(s: Scheduler, name: string): Promise<void> {
  parseJobName(name);
  for (let tries = 0; tries < 5; tries++) {
    const { job, rev } = await readJob(s, name);
    if (!isFinal(job.state)) {
      const state = JobState[job.state].toLowerCase();
      throw failedPrecondition("JOB_NOT_OVER", `job ${name} is ${state}: only a job that is over can be deleted; cancel it first`, { job: name, state });
    }
    if (await removeEnded(s, job, rev)) return;
  }
  throw aborted("JOB_CONTENTION", `job ${name} kept changing while being deleted; try again`);
}

/**
 * Deletes a job that is over, if it is still at `rev`: its record, its request_id and its
 * index entries; announces it. False if it changed meanwhile.
 */
async function removeEnded(s: Scheduler, job: Job, rev: number): Promise<boolean> {
  if (!(await jobs(s).delete(job.name, rev))) return false;
  await Promise.all([forgetRequestId(s, job), forgetResults(s, job), unindexJobs(s, [job])]);
  await publishJobEvent(s, job, undefined, "deleted", `${job.name}:deleted`);
  return true;
}

export async function purgeJobs(s: Scheduler, req: PurgeJobsRequest): Promise<PurgeJobsResponse> {
  const project = parseParent(req.parent);
  if (!req.endBefore) throw invalidArgument("END_BEFORE_REQUIRED", "a purge needs end_before: it deletes the jobs that ended before that time");
  for (const state of req.states) {
    if (!isFinal(state)) throw invalidArgument("INVALID_STATE", `a purge deletes jobs that are over (SUCCEEDED, FAILED or CANCELLED), not ${JobState[state] ?? state}`);
  }
  const states = new Set(req.states);
  const model = req.model ? await modelFilter(s, req.model) : "";
  const matches = (job: Job) => matchesJob(job, states, model, req.label);
  if (req.maxCount < 0n) throw invalidArgument("INVALID_MAX_COUNT", "max_count must not be negative");
  const limit = req.force && req.maxCount > 0n ? Number(req.maxCount) : undefined;
  const { count, sample } = await purge(s, { prefix: jobsPrefix(project), before: timestampDate(req.endBefore), matches, force: req.force, limit });
  return create(PurgeJobsResponseSchema, { purgeCount: BigInt(count), purgeSample: sample });
}

interface Purge {
  /** The jobs of one project ("projects/p/jobs/"), or EVERY_PROJECT. */
  prefix: string;
  before: Date;
  matches: (job: Job) => boolean;
  force: boolean;
  /** With force: stop after deleting this many. */
  limit?: number;
}

/**
 * Finds (and with force deletes) the jobs under the prefix that ended before `before` and
 * match, oldest first. Job ids sort by creation time, so a project's scan stops at its
 * first job created at or after `before`: a sweep visits what expired since the last one,
 * plus the old jobs that are still running.
 */
async function purge(s: Scheduler, { prefix, before, matches, force, limit = Infinity }: Purge): Promise<{ count: number; sample: string[] }> {
  const beforeMs = before.getTime();
  let count = 0;
  const sample: string[] = [];
  for (let after: string | undefined; ; ) {
    const page = await jobs(s).list({ prefix, after, limit: PAGE });
    const found: { job: Job; rev: number }[] = [];
    let nextProject: string | undefined;
    for (const { key, rev, value } of page) {
      after = key;
      const job = decodeJob(value);
      if (job.createTime && timestampMs(job.createTime) >= beforeMs) {
        nextProject = `${jobsPrefix(parseJobName(key).project)}\u{10FFFF}`;
        break;
      }
      if (isFinal(job.state) && job.endTime && timestampMs(job.endTime) < beforeMs && matches(job)) found.push({ job, rev });
    }
    const purged = force ? await removeAll(s, found.slice(0, limit - count)) : found.map(({ job }) => job);
    count += purged.length;
    for (const job of purged) if (sample.length < SAMPLE) sample.push(job.name);
    if (count >= limit) break;
    if (nextProject) {
      if (prefix !== EVERY_PROJECT) break;
      after = nextProject;
      continue;
    }
    if (page.length < PAGE) break;
  }
  return { count, sample };
}

async function removeAll(s: Scheduler, found: readonly { job: Job; rev: number }[]): Promise<Job[]> {
  const removed = await Promise.all(found.map(({ job, rev }) => removeEnded(s, job, rev)));
  return found.filter((_, i) => removed[i]).map(({ job }) => job);
}

/**
 * Deletes the jobs that ended more than KILN_JOB_RETENTION_MS ago, in every project (none
 * when it is 0, the default); at most every SWEEP_EVERY_MS (or half the retention) per scheduler.
 */
export async function sweepExpiredJobs(s: Scheduler): Promise<number> {
  const retention = s.settings.jobRetentionMs;
  if (!retention) return 0;
  const now = due(s, Math.min(SWEEP_EVERY_MS, retention / 2));
  if (now === undefined) return 0;
  const { count } = await purge(s, { prefix: EVERY_PROJECT, before: new Date(now - retention), matches: () => true, force: true });
  if (count) s.logger.info({ jobs: count, retentionMs: retention }, "deleted the jobs that ended longer than KILN_JOB_RETENTION_MS ago");
  return count;
}
