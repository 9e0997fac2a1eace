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
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { RETRY_DELAY_MAX_MS, RETRY_DELAY_MS } from "./deps.js";
import { changeJob, isFinal, type Scheduler } from "./job-store.js";
import { parseExecutorName, parseJobName } from "./names.js";
import { durationFromMs } from "@bufbuild/protobuf/wkt";

/**
 * An executor took the job's message. A job already running means its previous
 * executor stopped answering (its message came back): that attempt ends as lost.
 */
export async function startAttempt(s: Scheduler, req: StartAttemptRequest): Promise<StartAttemptResponse> {
  parseJobName(req.name);
  const executor = parseExecutorName(req.executor);
  let run = false;
  const { job } = await changeJob(s, req.name, (job, now) => {
    run = false;
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
    job.startTime ??= timestampFromDate(now);
    run = true;
    return "started";
  });
  return create(StartAttemptResponseSchema, { run, job, attempt: run ? job.attempts.length : 0 });
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

export async function finishAttempt(s: Scheduler, req: FinishAttemptRequest): Promise<FinishAttemptResponse> {
  parseJobName(req.name);
  let requeue = false;
  const { job } = await changeJob(s, req.name, (job, now) => {
    requeue = false;
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
      requeue = true;
      return "requeued";
    }
    endJob(job, now, JobState.FAILED, req.retryable ? outOfAttempts(job) : error);
    return "failed";
  });
  const delay = Math.min(RETRY_DELAY_MS * 2 ** Math.max(0, job.attempts.length - 1), RETRY_DELAY_MAX_MS);
  return create(FinishAttemptResponseSchema, { job, requeue, retryDelay: requeue ? durationFromMs(delay) : undefined });
}

export function isCurrent(job: Job, attempt: number): boolean {
  return job.state === JobState.RUNNING && attempt > 0 && attempt === job.attempts.length && !job.attempts[attempt - 1]!.endTime;
}

export function endJob(job: Job, now: Date, state: JobState, error?: JobError): void {
  job.state = state;
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
