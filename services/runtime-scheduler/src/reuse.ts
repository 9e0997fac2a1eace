import { clone, create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import { jobOutputComment } from "@kiln/contracts";
import { JobProgressSchema, JobResultSchema, JobState, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { endJob } from "./attempts.js";
import { TRAINS } from "./deps.js";
import { nowOf, readJob, type Scheduler } from "./job-store.js";
import { parseJobName } from "./names.js";
import { PRODUCES_RESULTS, resultsKeptForMs } from "./results.js";
import type { Lookups } from "./submit.js";

/** A reused predict's results must stay readable this much longer (or half the time results are kept, if shorter). */
const RESULTS_LEFT_MS = 60_000;

/** Per project, the job that last did the work of each fingerprint (and ran, rather than reused). */
function fingerprints(s: Scheduler) {
  return s.metadata.collection<{ job: string }>("runtime_job_fingerprints");
}

function fingerprintKey(job: Job): string {
  return `${parseJobName(job.name).project}/fingerprints/${job.fingerprint}`;
}

/** Jobs that ran and succeeded: the latest job of each fingerprint is the one a reuse looks at. */
export async function rememberResults(s: Scheduler, succeeded: readonly Job[]): Promise<void> {
  await Promise.all(succeeded.filter((job) => job.fingerprint && !job.reusedFrom).map((job) => remember(s, job)));
}

async function remember(s: Scheduler, job: Job): Promise<void> {
  const key = fingerprintKey(job);
  for (let tries = 0; tries < 5; tries++) {
    const found = await fingerprints(s).get(key);
    try {
      if (found) await fingerprints(s).update(key, { job: job.name }, found.rev);
      else await fingerprints(s).create(key, { job: job.name });
      return;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted) && !isKilnError(e, Code.AlreadyExists) && !isKilnError(e, Code.NotFound)) throw e;
    }
  }
}

/** A deleted job's entry goes (only if it still names that job): its results go with it. */
export async function forgetResults(s: Scheduler, job: Job): Promise<void> {
  if (!job.fingerprint || job.reusedFrom) return;
  const key = fingerprintKey(job);
  const found = await fingerprints(s).get(key);
  if (found?.value.job === job.name) await fingerprints(s).delete(key, found.rev);
}

/**
 * The job whose result a job asking for reuse takes: the latest that did the same work
 * and succeeded, while what it made is still there. Undefined when there is none, and
 * when a service needed to tell is away (running the job again is never wrong).
 */
export async function reusableJob(s: Scheduler, job: Job, lookups: Lookups): Promise<Job | undefined> {
  if (!job.reuse || !job.fingerprint) return undefined;
  try {
    const entry = await fingerprints(s).get(fingerprintKey(job));
    if (!entry) return undefined;
    const earlier = await readJob(s, entry.value.job).then((r) => r.job, () => undefined);
    if (!earlier || earlier.state !== JobState.SUCCEEDED || earlier.fingerprint !== job.fingerprint) return undefined;
    return (await stillThere(s, earlier, lookups)) ? earlier : undefined;
  } catch (e) {
    s.logger.warn({ err: e, job: job.name }, "could not tell whether an earlier job's results can be reused; the job runs");
    return undefined;
  }
}

/** Whether what the job made is still there to reuse. */
async function stillThere(s: Scheduler, earlier: Job, lookups: Lookups): Promise<boolean> {
  const result = earlier.result;
  if (TRAINS.has(earlier.kind)) {
    const version = result?.modelVersion && (await lookups.model(result.modelVersion).catch(goneAsUndefined));
    // Model version numbers start again when a model is dropped and made anew.
    return !!version && version.lineage?.trainingJob === earlier.name;
  }
  if (result?.output?.name) {
    const version = await lookups.datasetVersion(`${result.output.name}/versions/${result.output.version}`).catch(goneAsUndefined);
    return !!version && version.comment === jobOutputComment(earlier.name);
  }
  if (PRODUCES_RESULTS.has(earlier.kind)) {
    if (!earlier.endTime) return false;
    const ttl = s.settings.resultsTtlMs;
    return resultsKeptForMs(earlier.endTime, nowOf(s), ttl) > Math.min(RESULTS_LEFT_MS, ttl / 2);
  }
  return true;
}

function goneAsUndefined(e: unknown): undefined {
  if (isKilnError(e, Code.NotFound)) return undefined;
  throw e;
}

/** Ends a job with the earlier job's result instead of running it. */
export function takeResult(job: Job, earlier: Job, now: Date): void {
  endJob(job, now, JobState.SUCCEEDED);
  job.result = clone(JobResultSchema, earlier.result ?? create(JobResultSchema));
  job.reusedFrom = earlier.name;
  job.startTime = job.endTime;
  job.progress = create(JobProgressSchema, { fraction: 1, message: `reused the result of ${earlier.name}` });
}
