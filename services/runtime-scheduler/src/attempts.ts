import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  JobAttemptSchema,
  JobErrorSchema,
  JobProgressSchema,
  JobState,
  type FinishAttemptRequest,
  type FinishAttemptResponse,
  type Job,
  type JobError,
  type StartAttemptRequest,
  type StartAttemptResponse,
  FinishAttemptResponseSchema,
  StartAttemptResponseSchema,
  type ReportProgressRequest,
  FinishAttemptResultSchema,
  StartAttemptResultSchema,
  type FinishAttemptResult,
  type StartAttemptResult,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { KilnError } from "@kiln/core";
import { itemError } from "./job-errors.js";
import { RETRY_DELAY_MAX_MS, RETRY_DELAY_MS } from "./deps.js";
import { changeJob, changeJobs, isFinal, type JobChange, type Scheduler } from "./job-store.js";
import { parseExecutorName, parseJobName } from "./names.js";
import { rememberResults } from "./reuse.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";

/**
 * Executors took these jobs' messages. A job already running means its previous
 * executor stopped answering (its message came back): that attempt ends as lost.
 * Per request, in order: the answer, or the error its claim met.
 */
export async function startAttempts(s: Scheduler, reqs: readonly StartAttemptRequest[]): Promise<(StartAttemptResponse | Error)[]> {
  const run: boolean[] = reqs.map(() => false);
  const changes = reqs.map((req, i) => orError(() => {
    parseJobName(req.name);
    const executor = parseExecutorName(req.executor);
    const change: JobChange = (job, now) => {
      run[i] = false;
      if (isFinal(job.state)) return undefined;
      const current = job.attempts.at(-1);
      if (job.state === JobState.RUNNING && current && !current.endTime) {
        current.endTime = timestampFromDate(now);
        current.error = jobError("UNAVAILABLE", "EXECUTOR_LOST", `${current.executor} stopped responding during attempt ${current.number}`);
      }
      if (job.attempts.length >= job.maxAttempts) {
        endJob(job, now, JobState.FAILED, outOfAttempts(job));
        return "failed";
      }
      job.attempts.push(create(JobAttemptSchema, { number: job.attempts.length + 1, executor, startTime: timestampFromDate(now) }));
      job.progress = create(JobProgressSchema); // each attempt reports its own progress
      job.state = JobState.RUNNING;
      job.waitingFor = []; // a job that waited is on its queue once its last wait is settled, before this says so
      job.startTime ??= timestampFromDate(now);
      run[i] = true;
      return "started";
    };
    return { name: req.name, change };
  }));
  return (await changeJobs(s, changes)).map((outcome, i) =>
    outcome instanceof Error ? outcome : create(StartAttemptResponseSchema, { run: run[i], job: outcome.job, attempt: run[i] ? outcome.job.attempts.length : 0 }),
  );
}

/** Progress of the current attempt; `stop` tells the executor to give up (cancelled or superseded). */
export async function reportProgress(s: Scheduler, req: ReportProgressRequest): Promise<boolean> {
  parseJobName(req.name);
  const { job } = await changeJob(s, req.name, (job) => {
    if (!isCurrent(job, req.attempt)) return undefined;
    if (req.progress) job.progress = req.progress;
    return "progress";
  });
  return !isCurrent(job, req.attempt);
}

/** Ends attempts with their outcomes; per request, in order: the answer, or the error it met. */
export async function finishAttempts(s: Scheduler, reqs: readonly FinishAttemptRequest[]): Promise<(FinishAttemptResponse | Error)[]> {
  const requeue: boolean[] = reqs.map(() => false);
  const changes = reqs.map((req, i) => orError(() => {
    parseJobName(req.name);
    const change: JobChange = (job, now) => {
      requeue[i] = false;
      if (!isCurrent(job, req.attempt)) return undefined; // superseded or cancelled: this outcome no longer counts
      const attempt = job.attempts.at(-1)!;
      attempt.endTime = timestampFromDate(now);
      if (req.outcome.case === "result") {
        job.result = req.outcome.value;
        if (job.progress) job.progress.fraction = 1;
        endJob(job, now, JobState.SUCCEEDED);
        return "succeeded";
      }
      const error = req.outcome.case === "error" ? req.outcome.value : jobError("UNKNOWN", "NO_OUTCOME", "the executor reported neither a result nor an error");
      attempt.error = error;
      if (req.retryable && job.attempts.length < job.maxAttempts) {
        job.state = JobState.QUEUED;
        requeue[i] = true;
        return "requeued";
      }
      endJob(job, now, JobState.FAILED, req.retryable ? outOfAttempts(job) : error);
      return "failed";
    };
    return { name: req.name, change };
  }));
  const outcomes = await changeJobs(s, changes);
  const succeeded = outcomes.flatMap((o) => (o instanceof Error || o.changed !== "succeeded" ? [] : [o.job]));
  // Before the answer, so a job submitted once this one is over finds its result to reuse.
  await rememberResults(s, succeeded).catch((e: unknown) => s.logger.warn({ err: e }, "could not note the results of succeeded jobs for reuse"));
  return outcomes.map((outcome, i) => {
    if (outcome instanceof Error) return outcome;
    const delay = Math.min(RETRY_DELAY_MS * 2 ** Math.max(0, outcome.job.attempts.length - 1), RETRY_DELAY_MAX_MS);
    return create(FinishAttemptResponseSchema, { job: outcome.job, requeue: requeue[i], retryDelay: requeue[i] ? durationFromMs(delay) : undefined });
  });
}

/** A batch's outcomes as the items of its answer; unexpected errors are logged, not sent. */
export function startResults(s: Scheduler, outcomes: (StartAttemptResponse | Error)[]): StartAttemptResult[] {
  return outcomes.map((o) => create(StartAttemptResultSchema, { outcome: o instanceof Error ? { case: "error", value: logged(s, o) } : { case: "response", value: o } }));
}

export function finishResults(s: Scheduler, outcomes: (FinishAttemptResponse | Error)[]): FinishAttemptResult[] {
  return outcomes.map((o) => create(FinishAttemptResultSchema, { outcome: o instanceof Error ? { case: "error", value: logged(s, o) } : { case: "response", value: o } }));
}

function logged(s: Scheduler, e: Error): JobError {
  if (!(e instanceof KilnError)) s.logger.error({ err: e }, "an item of a batch call failed unexpectedly");
  return itemError(e);
}

function orError<T>(build: () => T): T | Error {
  try {
    return build();
  } catch (e) {
    return e as Error;
  }
}

/** One call's answer: the batch's only outcome, or its error thrown. */
export function single<T>(outcomes: (T | Error)[]): T {
  const [outcome] = outcomes;
  if (outcome instanceof Error) throw outcome;
  return outcome!;
}

export function isCurrent(job: Job, attempt: number): boolean {
  return job.state === JobState.RUNNING && attempt > 0 && attempt === job.attempts.length && !job.attempts[attempt - 1]!.endTime;
}

export function endJob(job: Job, now: Date, state: JobState, error?: JobError): void {
  job.state = state;
  job.waitingFor = [];
  job.endTime = timestampFromDate(now);
  if (error) job.error = error;
}

export function jobError(code: string, reason: string, message: string): JobError {
  return create(JobErrorSchema, { code, reason, message });
}

/** A dead letter: the job failed every attempt it had; it keeps the last error. */
function outOfAttempts(job: Job): JobError {
  const last = job.attempts.at(-1)?.error;
  return jobError(
    last?.code || "ABORTED",
    last?.reason || "OUT_OF_ATTEMPTS",
    `failed after ${job.attempts.length} attempt${job.attempts.length === 1 ? "" : "s"}: ${last?.message ?? "no error recorded"}`,
  );
}
