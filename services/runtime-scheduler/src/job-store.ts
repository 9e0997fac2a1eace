import { clone, create, fromJson, toBinary, toJson, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { aborted, isKilnError, notFound } from "@kiln/core";
import { JobEventSchema, JobSchema, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { SchedulerDeps } from "./deps.js";
import type { JobWatchers } from "./watchers.js";

export const EVENT_STREAM = { name: "KILN_RUNTIME", subjects: ["kiln.runtime.v1.job.>"] };

export type JobTransition = "queued" | "started" | "requeued" | "succeeded" | "failed" | "cancelled";

export interface JobRecord {
  /** The Job message in its JSON form. */
  job: JsonValue;
}

/** What handlers get: the dependencies, plus the watchers of this scheduler process. */
export interface Scheduler extends SchedulerDeps {
  watchers: JobWatchers;
}

const MAX_TRIES = 20;

export function jobs(deps: SchedulerDeps) {
  return deps.metadata.collection<JobRecord>("runtime_jobs");
}

export function isFinal(state: JobState): boolean {
  return state === JobState.SUCCEEDED || state === JobState.FAILED || state === JobState.CANCELLED;
}

export function nowOf(deps: SchedulerDeps): Date {
  return deps.now?.() ?? new Date();
}

export async function readJob(deps: SchedulerDeps, name: string): Promise<{ job: Job; rev: number }> {
  const stored = await jobs(deps).get(name);
  if (!stored) throw notFound("JOB_NOT_FOUND", `job ${name} does not exist`, { job: name });
  return { job: fromJson(JobSchema, stored.value.job), rev: stored.rev };
}

export function decodeJob(record: JobRecord): Job {
  return fromJson(JobSchema, record.job);
}

export async function insertJob(s: Scheduler, job: Job): Promise<void> {
  await jobs(s).create(job.name, { job: toJson(JobSchema, job) });
  await announce(s, job, "queued");
}

export async function removeJob(deps: SchedulerDeps, name: string): Promise<void> {
  await jobs(deps).delete(name);
}

/**
 * Applies `change` to the stored job with optimistic concurrency. `change` edits its copy
 * and returns the transition it made (published on the bus), "progress" for a change
 * only watchers hear of, or undefined to leave the job as it is.
 */
export async function changeJob(
  s: Scheduler,
  name: string,
  change: (job: Job, now: Date) => JobTransition | "progress" | undefined,
): Promise<{ job: Job; changed: JobTransition | "progress" | undefined }> {
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const { job: current, rev } = await readJob(s, name);
    const job = clone(JobSchema, current);
    const now = nowOf(s);
    const changed = change(job, now);
    if (!changed) return { job: current, changed };
    job.updateTime = timestampFromDate(now);
    try {
      await jobs(s).update(name, { job: toJson(JobSchema, job) }, rev);
    } catch (e) {
      if (isKilnError(e, Code.Aborted)) continue;
      throw e;
    }
    if (changed === "progress") s.watchers.notify(job);
    else await announce(s, job, changed);
    return { job, changed };
  }
  throw aborted("JOB_CONTENTION", `too many concurrent changes to ${name}; try again`);
}

async function announce(s: Scheduler, job: Job, transition: JobTransition): Promise<void> {
  s.watchers.notify(job);
  if (isFinal(job.state)) void dropTemporaryInputs(s, job);
  const event = create(JobEventSchema, { job, time: timestampFromDate(nowOf(s)) });
  const msgId = `${job.name}:${transition}:${job.attempts.length}`;
  await s.bus.publish(`kiln.runtime.v1.job.${transition}`, toBinary(JobEventSchema, event), { msgId }).catch((e: unknown) => {
    // The job record is the truth; a lost event must not fail the change that caused it.
    s.logger.warn({ err: e, job: job.name, transition }, "could not publish a job event");
  });
}

/** Inputs made for the job (from a client's local data) go once the job is over. */
async function dropTemporaryInputs(s: Scheduler, job: Job): Promise<void> {
  for (const input of [job.x, job.y]) {
    if (!input?.temporary) continue;
    await s.store.deleteDataset({ name: input.dataset, allowMissing: true }).catch((e: unknown) => {
      s.logger.warn({ err: e, job: job.name, dataset: input.dataset }, "could not drop a job's temporary input");
    });
  }
}
