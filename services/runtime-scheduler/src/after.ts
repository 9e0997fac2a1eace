import { failedPrecondition, invalidArgument, notFound } from "@kiln/core";
import { JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { TRAINS } from "./deps.js";
import { decodeJob, isFinal, jobs, type Scheduler } from "./job-store.js";
import { parseJobName, parseModelRef, versionNumber } from "./names.js";

/** Jobs one job may run after. */
export const MAX_AFTER = 100;

/** Jobs read, at most, to learn what the jobs a new job waits for themselves wait for. */
const MAX_UPSTREAM = 10_000;

/** Nearest makers a job keeps, at most (see upstreamMakersOf); with more, jobs after it walk back through it instead. */
const MAX_NEAREST_MAKERS = 1_000;

/**
 * In SubmitJobs, `requests/{i}` in a job's `after` names the job the call's i-th request
 * makes (an earlier request): a whole graph of jobs is submitted in one call, all or none.
 */
const EARLIER_REQUEST = /^requests\/(\d+)$/;

/** The job an earlier request of the same SubmitJobs call makes (unnamed yet), or had made (its request_id seen before). */
export type EarlierInCall = (index: number) => Promise<Job>;

/**
 * A job's `after` checked: the names as given (unique, in order; `requests/{i}` stays so
 * until the call's jobs are named), those of the jobs that have not succeeded yet, and of
 * those jobs and every job still to run that they wait for, near or far, those that
 * train a model or write a dataset (what those make, a new job reads only once they ran).
 * `nearestMakers`: the nearest of those, for the new job's record (see upstreamMakersOf).
 */
export interface CheckedAfter {
  names: string[];
  waitingNames: string[];
  makers: Job[];
  nearestMakers: string[] | undefined;
}

/**
 * The jobs a new job runs after must be of its project and exist (or be made by an earlier
 * request of the same call); one that failed or was cancelled already fails the submit,
 * since the job would never run.
 */
export async function checkAfter(s: Scheduler, project: string, after: readonly string[], earlierInCall?: EarlierInCall): Promise<CheckedAfter> {
  const names = [...new Set(after)];
  if (names.length === 0) return { names, waitingNames: [], makers: [], nearestMakers: [] };
  if (names.length > MAX_AFTER) throw invalidArgument("TOO_MANY_AFTER", `a job may run after at most ${MAX_AFTER} jobs, got ${names.length}`);
  for (const name of names) {
    if (EARLIER_REQUEST.test(name)) {
      if (!earlierInCall) throw invalidArgument("INVALID_AFTER", `job.after names ${name}: requests/{i} names the job of an earlier request of the same SubmitJobs call`);
    } else if (parseJobName(name).project !== project) throw invalidArgument("CROSS_PROJECT", `job.after names ${name}, which is not in ${project}`);
  }
  const found = await jobsNamed(s, names, earlierInCall);
  const waiting: Reached[] = [];
  found.forEach((reached, i) => {
    const name = names[i]!;
    const job = reached?.job;
    if (!job) throw notFound("JOB_NOT_FOUND", `job.after names ${name}, which does not exist`, { job: name });
    if (job.state === JobState.FAILED || job.state === JobState.CANCELLED) {
      const [state, reason] = job.state === JobState.FAILED ? ["failed", "AFTER_JOB_FAILED"] : ["was cancelled", "AFTER_JOB_CANCELLED"];
      throw failedPrecondition(reason, `job.after names ${job.name || name}, which ${state}, so this job would never run`, { job: job.name || name });
    }
    if (job.state !== JobState.SUCCEEDED) waiting.push(reached);
  });
  const { makers, nearest } = await upstreamMakersOf(s, waiting, earlierInCall);
  return { names, waitingNames: waiting.map((r) => r.name), makers, nearestMakers: nearest };
}

/** A job as reached by a name (stored, or `requests/{i}`), with the nearest makers it keeps, when it keeps them. */
interface Reached {
  name: string;
  job: Job;
  nearestMakers: readonly string[] | undefined;
}

/**
 * The nearest makers a new job of a SubmitJobs call keeps, until it is stored (an earlier
 * request's job is reached as an object; `requests/{i}` among them until the call's jobs are named).
 */
const nearestMakersInCall = new WeakMap<Job, readonly string[]>();

/** Notes what checkAfter found for a job about to be made, for later requests of its call to reach. */
export function keepNearestMakers(job: Job, after: CheckedAfter): void {
  if (after.nearestMakers) nearestMakersInCall.set(job, after.nearestMakers);
}

/** The nearest makers a new job keeps in its record, by their names once the call's jobs are named; undefined to keep none. */
export function nearestMakersNamed(job: Job, jobOfRequest: (index: number) => Job): string[] | undefined {
  const kept = nearestMakersInCall.get(job);
  return kept && [...new Set(kept.map((name) => namedAfter(name, jobOfRequest)))];
}

/**
 * The jobs `names` name, in order (undefined for one not stored): stored ones read in one
 * go, `requests/{i}` the job of that earlier request of the call.
 */
async function jobsNamed(s: Scheduler, names: readonly string[], earlierInCall: EarlierInCall | undefined): Promise<(Reached | undefined)[]> {
  const earlier = names.map((name) => EARLIER_REQUEST.exec(name));
  const stored = await jobs(s).getMany(names.filter((_, i) => !earlier[i]));
  let next = 0;
  return Promise.all(
    names.map(async (name, i) => {
      const m = earlier[i];
      if (m) {
        const job = await earlierInCall!(Number(m[1]));
        return { name, job, nearestMakers: nearestMakersInCall.get(job) };
      }
      const record = stored[next++];
      return record && { name, job: decodeJob(record.value), nearestMakers: record.value.nearestMakers };
    }),
  );
}

/** What a job still to run will make: the model it trains, the dataset it writes. */
function willMake(job: Job): string[] {
  const made = TRAINS.has(job.kind) ? [`model ${parseModelRef(job.model).model}`] : [];
  if (job.outputDataset) made.push(`dataset ${job.outputDataset}`);
  return made;
}

/**
 * Of the jobs given and, level by level, the jobs they wait for that are not over (new ones
 * of the same call too), those that will make something; and the nearest of those, which a
 * job keeps so that jobs after it need not walk back through everything before it (a chain
 * of predicts, each submitted while the one before waits, would cost reads of them all for
 * every submit). A job that keeps its nearest makers is not walked through: what a job
 * further back makes, a nearer one makes again after it (and the further one is over once
 * the nearer one is), or it is among them; they are read to drop those over since. A kept
 * maker whose every thing made the job that kept it makes too is no longer nearest. Without
 * a whole walk (too many jobs read), the nearest are undefined: none are kept.
 */
async function upstreamMakersOf(s: Scheduler, waiting: readonly Reached[], earlierInCall: EarlierInCall | undefined): Promise<{ makers: Job[]; nearest: string[] | undefined }> {
  const seen = new Set<string>(waiting.map((r) => r.name));
  const makers = new Map<string, Job>();
  const kept: { name: string; keptBy: Job }[] = [];
  let read = waiting.length;
  let level = [...waiting];
  while (level.length && read < MAX_UPSTREAM) {
    const next: string[] = [];
    for (const { name, job, nearestMakers } of level) {
      if (willMake(job).length) makers.set(name, job);
      for (const before of nearestMakers ?? job.waitingFor) {
        if (seen.has(before)) continue;
        seen.add(before);
        if (nearestMakers) kept.push({ name: before, keptBy: job });
        else next.push(before);
      }
    }
    level = (await jobsNamed(s, next, earlierInCall)).filter((r): r is Reached => r !== undefined && r.job.state !== JobState.SUCCEEDED);
    read += level.length;
  }
  const keptJobs = kept.length ? await jobsNamed(s, kept.map((k) => k.name), earlierInCall) : [];
  kept.forEach(({ name, keptBy }, i) => {
    const job = keptJobs[i]?.job;
    if (!job || job.state === JobState.SUCCEEDED) return;
    const madeAgain = willMake(keptBy);
    if (willMake(job).every((made) => madeAgain.includes(made))) return;
    makers.set(name, job);
  });
  const whole = level.length === 0 && makers.size <= MAX_NEAREST_MAKERS;
  return { makers: [...makers.values()], nearest: whole ? [...makers.keys()] : undefined };
}

/** `requests/{i}` in a job's `after` or `waiting_for` as the name of the job the i-th request made. */
export function namedAfter(name: string, jobOfRequest: (index: number) => Job): string {
  const earlier = EARLIER_REQUEST.exec(name);
  return earlier ? jobOfRequest(Number(earlier[1])).name : name;
}

/** A model (its name) or a dataset a job reads, that jobs before it may have made. */
type Made = { model: string } | { dataset: string };

/**
 * The version of a model or dataset that the nearest jobs a job runs after (`after`) made (trained,
 * or wrote as their output): walking back through `after`, a path stops at the first job
 * that made it, or at a job still to run that reads it pinned (it resolved the same walk
 * when it was pinned; a chain of jobs waiting in turn costs one step, not its length); the
 * highest version found. Undefined if none did.
 */
export async function madeBefore(s: Scheduler, after: readonly string[], what: { model: string }): Promise<string | undefined>;
export async function madeBefore(s: Scheduler, after: readonly string[], what: { dataset: string }): Promise<bigint | undefined>;
export async function madeBefore(s: Scheduler, after: readonly string[], what: Made): Promise<string | bigint | undefined> {
  let found: { number: bigint; made: string | bigint } | undefined;
  const seen = new Set<string>();
  for (let level = [...after]; level.length && seen.size < MAX_UPSTREAM; ) {
    const names = [...new Set(level)].filter((name) => !seen.has(name));
    for (const name of names) seen.add(name);
    const stored = await jobs(s).getMany(names);
    level = [];
    for (const record of stored) {
      if (!record) continue;
      const before = decodeJob(record.value);
      const made = madeBy(before, what) ?? (isFinal(before.state) ? undefined : pinnedBy(before, what));
      if (made === undefined) level.push(...before.after);
      else if (!found || made.number > found.number) found = made;
    }
  }
  return found?.made;
}

/** The version of `what` a job reads, when it is pinned to a number (and the job does not make `what` itself). */
function pinnedBy(job: Job, what: Made): { number: bigint; made: string | bigint } | undefined {
  if ("model" in what) {
    if (TRAINS.has(job.kind)) return undefined;
    const number = versionNumber(job.model);
    return number !== undefined && parseModelRef(job.model).model === what.model ? { number, made: job.model } : undefined;
  }
  if (job.outputDataset === what.dataset) return undefined;
  const input = [job.x, job.y].find((i) => i?.dataset === what.dataset && i.version > 0n);
  return input && { number: input.version, made: input.version };
}

/** What a job that is over made of `what`: its version, and that version's number. */
function madeBy(job: Job, what: Made): { number: bigint; made: string | bigint } | undefined {
  const result = job.result;
  if ("model" in what) {
    const version = result?.modelVersion ?? "";
    if (!TRAINS.has(job.kind) || !version || parseModelRef(version).model !== what.model) return undefined;
    return { number: versionNumber(version) ?? 0n, made: version };
  }
  const output = result?.output;
  return output?.name === what.dataset && output.version > 0n ? { number: output.version, made: output.version } : undefined;
}
