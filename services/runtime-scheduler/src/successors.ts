import { Code, ConnectError } from "@connectrpc/connect";
import { errorReason, KilnError } from "@kiln/core";
import { codeName } from "@kiln/contracts";
import { JobState, type Job, type JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { endJob, jobError } from "./attempts.js";
import { itemError } from "./job-errors.js";
import { SUCCESSORS, successorsPrefix } from "./job-indexes.js";
import { changeJob, decodeJob, isFinal, jobs, type Scheduler } from "./job-store.js";
import { sweepPace } from "./sweep-pace.js";
import { enqueue, ensureQueue, queueFor } from "./queues.js";
import { parseJobName } from "./names.js";
import { Lookups, pinDeferred, type Pinned } from "./submit.js";
import { reusableJob, takeResult } from "./reuse.js";

/** A job others wait for that is over, or gone (deleted before they heard of it). */
interface Ended {
  name: string;
  job: Job | undefined;
}

/** Entries read per round; waiting jobs settled at once. */
const PAGE = 500;
const AT_ONCE = 16;
/** The sweep runs at most this often (on executors' heartbeats). */
const SWEEP_EVERY_MS = 60_000;
const due = sweepPace();

/** Codes of errors that say a job cannot run (rather than that a service is away for now). */
const REFUSALS = new Set([Code.InvalidArgument, Code.NotFound, Code.FailedPrecondition, Code.OutOfRange, Code.PermissionDenied, Code.AlreadyExists]);

/**
 * Tells the jobs waiting for these jobs, which are over, how they ended: after a success
 * a job waits for one fewer, and the last one puts it on its queue; after a failure or a
 * cancel it ends the same way (and, through its own end, the jobs waiting for it).
 */
export async function settleSuccessors(s: Scheduler, ended: readonly Ended[]): Promise<void> {
  for (const before of ended) {
    const index = SUCCESSORS.collection(s);
    const lookups = new Lookups(s, parseJobName(before.name).project);
    for (;;) {
      // Settled entries are removed, so each round reads from the start.
      const page = await index.list({ prefix: successorsPrefix(before.name), limit: PAGE });
      for (let i = 0; i < page.length; i += AT_ONCE) {
        await Promise.all(
          page.slice(i, i + AT_ONCE).map(async ({ key }) => {
            await settle(s, before, SUCCESSORS.jobOf(key), lookups);
            await index.delete(key);
          }),
        );
      }
      if (page.length < PAGE) break;
    }
  }
}

/** Jobs just stored that wait: any job they wait for that ended meanwhile (before the index entry was there to tell) is settled now. */
export async function settleEndedBefore(s: Scheduler, created: readonly Job[]): Promise<void> {
  const names = [...new Set(created.flatMap((job) => job.waitingFor))];
  if (names.length === 0) return;
  try {
    await settleSuccessors(s, await endedOf(s, names));
  } catch (e) {
    s.logger.warn({ err: e }, "could not settle jobs that waited for jobs already over; the sweep does");
  }
}

/** Of these jobs, those over or gone. */
async function endedOf(s: Scheduler, names: readonly string[]): Promise<Ended[]> {
  const stored = await jobs(s).getMany(names);
  return names.flatMap((name, i) => {
    const job = stored[i] && decodeJob(stored[i]!.value);
    return !job || isFinal(job.state) ? [{ name, job }] : [];
  });
}

async function settle(s: Scheduler, before: Ended, name: string, lookups: Lookups): Promise<void> {
  if (before.job?.state === JobState.SUCCEEDED) {
    const changed = await changeJob(s, name, (job) => {
      // The last one stays named until the job is on its queue (release), so a sweep after a crash in between releases it again.
      if (!waitsFor(job, before.name) || job.waitingFor.length === 1) return undefined;
      job.waitingFor = job.waitingFor.filter((n) => n !== before.name);
      return "progress";
    }).catch(ignoreGone);
    const job = changed?.job;
    if (job && waitsFor(job, before.name) && job.waitingFor.length === 1) await release(s, job, before.name, lookups);
    return;
  }
  const error = beforeError(before);
  const cancelled = before.job?.state === JobState.CANCELLED;
  await changeJob(s, name, (job, now) => {
    if (!waitsFor(job, before.name)) return undefined;
    endJob(job, now, cancelled ? JobState.CANCELLED : JobState.FAILED, error);
    return cancelled ? "cancelled" : "failed";
  }).catch(ignoreGone);
}

/** Why a job waiting for `before` ends without running. */
function beforeError(before: Ended): JobError {
  const id = before.name.slice(before.name.lastIndexOf("/") + 1);
  if (!before.job) return jobError("FAILED_PRECONDITION", "AFTER_JOB_DELETED", `job ${id}, which this job runs after, was deleted before this job could run`);
  if (before.job.state === JobState.CANCELLED) return jobError("CANCELLED", "AFTER_JOB_CANCELLED", `job ${id}, which this job runs after, was cancelled`);
  return jobError("FAILED_PRECONDITION", "AFTER_JOB_FAILED", `job ${id}, which this job runs after, failed: ${before.job.error?.message || "no reason given"}`);
}

/**
 * The last job it waited for succeeded: pins what the job left unpinned (what that job
 * made), then puts it on its queue, then marks it no longer waiting; or, asked to reuse
 * and an earlier job did the same work, ends it with that job's result. A reference that
 * does not resolve, or an input that does not fit, fails the job; a service that is away
 * leaves it waiting for the sweep to try again.
 */
async function release(s: Scheduler, job: Job, last: string, lookups: Lookups): Promise<void> {
  let pinned: Pinned;
  try {
    pinned = await pinDeferred(s, job, lookups);
  } catch (e) {
    const refusal = refusalOf(e);
    if (!refusal) throw e;
    await changeJob(s, job.name, (j, now) => {
      if (!waitsFor(j, last)) return undefined;
      endJob(j, now, JobState.FAILED, refusal);
      return "failed";
    }).catch(ignoreGone);
    return;
  }
  const earlier = await reusableJob(s, { ...job, ...pinned }, lookups);
  const ready = await changeJob(s, job.name, (j, now) => {
    if (!waitsFor(j, last)) return undefined;
    Object.assign(j, pinned);
    if (!earlier) return "progress";
    takeResult(j, earlier, now);
    return "succeeded";
  }).catch(ignoreGone);
  if (ready?.job.state === JobState.SUCCEEDED) return;
  if (!ready?.changed) return;
  await ensureQueue(s, queueFor(ready.job.requiredLabels));
  await enqueue(s, ready.job);
  await changeJob(s, job.name, (j) => {
    if (!j.waitingFor.includes(last)) return undefined; // it started meanwhile (starting clears it) or ended
    j.waitingFor = [];
    return "released";
  }).catch(ignoreGone);
}

function waitsFor(job: Job, before: string): boolean {
  return job.state === JobState.QUEUED && job.waitingFor.includes(before);
}

function refusalOf(e: unknown): JobError | undefined {
  if (e instanceof KilnError && REFUSALS.has(e.code)) return itemError(e);
  if (e instanceof ConnectError && REFUSALS.has(e.code)) return jobError(codeName(e.code), errorReason(e) ?? codeName(e.code), e.rawMessage);
  return undefined;
}

function ignoreGone(e: unknown): undefined {
  if (e instanceof KilnError && e.code === Code.NotFound) return undefined;
  throw e;
}

/**
 * Settles what a scheduler that stopped (or a service that was away) left: jobs waiting
 * for jobs that are over. Reads the index of waiting jobs, at most every SWEEP_EVERY_MS.
 */
export async function sweepSuccessors(s: Scheduler): Promise<void> {
  if (due(s, SWEEP_EVERY_MS) === undefined) return;
  for (let after: string | undefined; ; ) {
    const page = await SUCCESSORS.collection(s).list({ after, limit: PAGE });
    const befores = [...new Set(page.map(({ key }) => key.slice(0, key.lastIndexOf("/then/"))))];
    await settleSuccessors(s, await endedOf(s, befores));
    if (page.length < PAGE) break;
    after = page.at(-1)!.key;
  }
}
