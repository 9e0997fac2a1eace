import { timestampDate } from "@bufbuild/protobuf/wkt";
import { JobKind, JobState, ServedState, type Executor, type Job, type JobDrift, type JobError } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ColumnDriftData } from "@kiln/data";
import { columnDriftFromProto, selectionFromProto, type DatasetSelectionInfo } from "./drift.js";
import { jobExplanationInfo, type JobExplanationInfo } from "./explain.js";
import { codeOf } from "@kiln/contracts";
import { apiError, type KilnApiError } from "./errors.js";
import { shortName } from "./names.js";

export type JobKindName = "fit" | "partial_fit" | "predict" | "predict_proba" | "score" | "transform" | "drift" | "explain" | "noop";
export type JobStateName = "queued" | "running" | "succeeded" | "failed" | "cancelled";

export interface JobErrorInfo {
  /** A gRPC code name, e.g. "FAILED_PRECONDITION". */
  code: string;
  reason: string;
  message: string;
}

export interface JobInfo {
  name: string;
  id: string;
  kind: JobKindName;
  state: JobStateName;
  model: string;
  x?: JobInputInfo;
  y?: JobInputInfo;
  params: Record<string, unknown>;
  outputDataset: string;
  /** X's columns copied into the results beside the outputs. */
  keepColumns: string[];
  requiredLabels: string[];
  maxAttempts: number;
  /** The idempotency key it was submitted with ("" if none). */
  requestId: string;
  /** Who submitted it (its token's subject); "" where the server checks no tokens. */
  creator: string;
  /** The schedule that submitted it ("" for a job submitted by a call). */
  schedule: string;
  /** The jobs (names) that had to succeed before it ran. */
  after: string[];
  /** Those of them that have not succeeded yet: while any is left the job waits, queued but on no queue. */
  waitingFor: string[];
  /** Whether it was submitted to reuse an earlier job's result. */
  reuse: boolean;
  /** The job whose result it reused instead of running ("" for a job that ran). */
  reusedFrom: string;
  /** sha256 of the work it does (equal for jobs doing the same work); "" for noop or while a reference waits to be pinned. */
  fingerprint: string;
  progress: { fraction: number; message: string; rowsDone: number; rowsTotal: number; epoch: number; metrics: Record<string, number> };
  attempts: { number: number; executor: string; startTime?: Date; endTime?: Date; error?: JobErrorInfo }[];
  result?: {
    modelVersion: string;
    metrics: Record<string, number>;
    rows: number;
    output?: { name: string; version: number };
    ranModelVersion: string;
    /** DRIFT: X compared with the version's training data. */
    drift?: JobDriftInfo;
    /** EXPLAIN: how much each feature moved the outputs. */
    explanation?: JobExplanationInfo;
  };
  error?: JobErrorInfo;
  createTime?: Date;
  startTime?: Date;
  endTime?: Date;
}

/** A DRIFT job's comparison: what was compared, and each feature's figures. */
export interface JobDriftInfo {
  baseline: DatasetSelectionInfo;
  target: DatasetSelectionInfo;
  baselineRows: number;
  targetRows: number;
  columns: ColumnDriftData[];
  /** Features X lacks (they count as drift). */
  missingColumns: string[];
  driftedCount: number;
  drifted: boolean;
}

export interface JobInputInfo {
  dataset: string;
  version: number;
  columns: string[];
  filter: string;
  temporary: boolean;
}

export interface ExecutorInfo {
  name: string;
  labels: string[];
  slots: number;
  runningJobs: string[];
  host: string;
  startTime?: Date;
  lastHeartbeat?: Date;
  /** The deployments it serves (online predictions), and how far it got loading each. */
  serving: { deployment: string; modelVersion: string; state: "loading" | "ready" | "failed"; error?: JobErrorInfo }[];
}

export const kindNames: Record<JobKindName, JobKind> = {
  fit: JobKind.FIT,
  partial_fit: JobKind.PARTIAL_FIT,
  predict: JobKind.PREDICT,
  predict_proba: JobKind.PREDICT_PROBA,
  score: JobKind.SCORE,
  transform: JobKind.TRANSFORM,
  drift: JobKind.DRIFT,
  explain: JobKind.EXPLAIN,
  noop: JobKind.NOOP,
};

export const stateNames: Record<JobStateName, JobState> = {
  queued: JobState.QUEUED,
  running: JobState.RUNNING,
  succeeded: JobState.SUCCEEDED,
  failed: JobState.FAILED,
  cancelled: JobState.CANCELLED,
};

const lower = <T extends string>(name: string | undefined) => (name ?? "unspecified").toLowerCase() as T;
const date = (t: Parameters<typeof timestampDate>[0] | undefined) => (t ? timestampDate(t) : undefined);
const errorInfo = (e: JobError | undefined): JobErrorInfo | undefined => e && { code: e.code, reason: e.reason, message: e.message };

export function jobInfo(job: Job): JobInfo {
  const input = (i: Job["x"]) => i && { dataset: i.dataset, version: Number(i.version), columns: i.columns, filter: i.filter, temporary: i.temporary };
  const p = job.progress;
  const r = job.result;
  return {
    name: job.name,
    id: shortName(job.name),
    kind: lower<JobKindName>(JobKind[job.kind]),
    state: lower<JobStateName>(JobState[job.state]),
    model: job.model,
    x: input(job.x),
    y: input(job.y),
    params: (job.params ?? {}) as Record<string, unknown>,
    outputDataset: job.outputDataset,
    keepColumns: job.keepColumns,
    requiredLabels: job.requiredLabels,
    maxAttempts: job.maxAttempts,
    requestId: job.requestId,
    creator: job.creator,
    schedule: job.schedule,
    after: job.after,
    waitingFor: job.waitingFor,
    reuse: job.reuse,
    reusedFrom: job.reusedFrom,
    fingerprint: job.fingerprint,
    progress: {
      fraction: p?.fraction ?? 0,
      message: p?.message ?? "",
      rowsDone: Number(p?.rowsDone ?? 0),
      rowsTotal: Number(p?.rowsTotal ?? 0),
      epoch: p?.epoch ?? 0,
      metrics: p?.metrics ?? {},
    },
    attempts: job.attempts.map((a) => ({ number: a.number, executor: a.executor, startTime: date(a.startTime), endTime: date(a.endTime), error: errorInfo(a.error) })),
    result: r && {
      modelVersion: r.modelVersion,
      metrics: r.metrics,
      rows: Number(r.rows),
      output: r.output && { name: r.output.name, version: Number(r.output.version) },
      ranModelVersion: r.ranModelVersion,
      drift: r.drift && jobDriftInfo(r.drift),
      explanation: r.explanation && jobExplanationInfo(r.explanation),
    },
    error: errorInfo(job.error),
    createTime: date(job.createTime),
    startTime: date(job.startTime),
    endTime: date(job.endTime),
  };
}

export function executorInfo(e: Executor): ExecutorInfo {
  const serving = e.serving.map((d) => ({ deployment: d.deployment, modelVersion: d.modelVersion, state: lower<"loading" | "ready" | "failed">(ServedState[d.state]), error: errorInfo(d.error) }));
  return { name: e.name, labels: e.labels, slots: e.slots, runningJobs: e.runningJobs, host: e.host, startTime: date(e.startTime), lastHeartbeat: date(e.lastHeartbeat), serving };
}

/** A failed or cancelled job's error, typed by its code (FailedPreconditionError, DeadlineExceededError...). */
export function jobError(info: JobInfo): KilnApiError {
  const code = codeOf(info.error?.code ?? "UNKNOWN");
  return apiError(code, `job ${info.id} ${info.state}: ${info.error?.message ?? "no reason given"}`, info.error?.reason, { job: info.name });
}

function jobDriftInfo(d: JobDrift): JobDriftInfo {
  return {
    baseline: selectionFromProto(d.baseline),
    target: selectionFromProto(d.target),
    baselineRows: Number(d.baselineRows),
    targetRows: Number(d.targetRows),
    columns: d.columns.map(columnDriftFromProto),
    missingColumns: d.missingColumns,
    driftedCount: d.driftedCount,
    drifted: d.drifted,
  };
}
