import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ExperimentSchema, RunSchema, RunStatus, type Experiment, type Run } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { runName } from "./names.js";

export interface ExperimentRecord {
  name: string;
  description: string;
  labels: Record<string, string>;
  createTime: string;
  /** When its labels or MLflow name last changed; absent until they do. */
  updateTime?: string;
  latestRun: number;
  /** Every run has its entry in its start order (run-starts.ts); absent in experiments from before it until their first search mends them. */
  runStartsKept?: true;
  /** Set while MLflow's API has it deleted (its runs show as deleted too); MLflow's restore clears it. */
  deletedTime?: string;
}

export type StatusName = "RUNNING" | "FINISHED" | "FAILED" | "KILLED";

export interface RunRecord {
  experiment: string;
  run: number;
  status: StatusName;
  startTime: string;
  endTime?: string;
  tags: Record<string, string>;
  node: string;
  runKey: string;
  /** Absent in runs recorded before tokens. */
  creator?: string;
  /**
   * Set by MLflow's DeleteRun: MLflow's searches then show the run as deleted (and its
   * RestoreRun clears it). Kiln's own API still lists the run; it has no run deletion.
   */
  deletedTime?: string;
}

/** A trace's spans' file kept as a document of `traceSpans` (its ref is the document's key). */
export const TRACE_SPANS_KIND = "trace-spans";

/**
 * A trace's spans' file: its text, or, once it outgrows a document (OpenTelemetry's exports
 * add to it), the blobs it is stored in, in order, with the text empty.
 */
export interface SpansDoc {
  text: string;
  pieces?: { sha256: string; size: number }[];
}

/** A file as the tracking service keeps it: an artifact event's value, or a logged model's file. */
export interface StoredArtifact {
  kind: string;
  ref: string;
  name: string;
  size: number;
  mediaType?: string;
  chunks?: { sha256: string; size: number }[];
}

/**
 * MLflow 3's LoggedModel: a model logged from (or beside) a run, with files of its own.
 * Kept for MLflow's API; Kiln's own models live in the registry.
 */
export interface LoggedModelRecord {
  project: string;
  modelId: string;
  /** The experiment's full name. */
  experiment: string;
  name: string;
  modelType: string;
  /** MLflow's run_id of the run that logged it, if one did. */
  sourceRunId: string;
  status: "LOGGED_MODEL_PENDING" | "LOGGED_MODEL_READY" | "LOGGED_MODEL_UPLOAD_FAILED";
  createTime: string;
  updateTime: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  metrics: { key: string; value: number; timestamp: number; step: number; runId: string }[];
  /** Its artifacts by path. */
  files: Record<string, StoredArtifact>;
}

/**
 * MLflow's trace: what a traced call recorded, its spans in the file `traces.json` among its
 * `files` (MLflow's clients upload it to the trace's artifact location).
 */
export interface TraceRecord {
  traceId: string;
  /** The experiment's full name. */
  experiment: string;
  clientRequestId: string;
  /** Milliseconds since the epoch. */
  requestTime: number;
  executionMs: number;
  state: "STATE_UNSPECIFIED" | "OK" | "ERROR" | "IN_PROGRESS";
  requestPreview: string;
  responsePreview: string;
  metadata: Record<string, string>;
  tags: Record<string, string>;
  /** MLflow's assessments (feedback and expectations) as its JSON writes them. */
  assessments: Record<string, Json>[];
  /** The runs linked to it (MLflow's LinkTracesToRun), beside the run its metadata names. */
  linkedRuns: string[];
  files: Record<string, StoredArtifact>;
  /** Its spans' distinct names, types and statuses, from its spans' file once uploaded. */
  spanKeys?: SpanKey[];
}

export interface SpanKey {
  name: string;
  type: string;
  status: string;
}

export function collections(deps: Pick<TrackingDeps, "metadata">) {
  return {
    experiments: deps.metadata.collection<ExperimentRecord>("tracking_experiments"),
    runs: deps.metadata.collection<RunRecord>("tracking_runs"),
    /** `{experiment}/{start ms}/{run}` → run number: an experiment's runs in start order (run-starts.ts). */
    runStarts: deps.metadata.collection<{ run: number }>("tracking_run_starts"),
    /** run_key → run number, per experiment. */
    runKeys: deps.metadata.collection<{ run: number }>("tracking_run_keys"),
    /** `{project}/{model_id}` → MLflow's logged model. */
    loggedModels: deps.metadata.collection<LoggedModelRecord>("tracking_logged_models"),
    /** `{experiment}/{start time}/{trace_id}` → MLflow's trace. */
    traces: deps.metadata.collection<TraceRecord>("tracking_traces"),
    /** `{project}/{trace_id}` → a trace's spans' file (`traces.json`), kept here rather than as a blob: no file write and fsync per trace. */
    traceSpans: deps.metadata.collection<SpansDoc>("tracking_trace_spans"),
    /** `{project}/{trace_id}` → the experiment that holds the trace and its key there (trace ids are the project's). */
    traceIds: deps.metadata.collection<{ experiment: string; key: string }>("tracking_trace_ids"),
  };
}

export function experimentToProto(e: ExperimentRecord): Experiment {
  return create(ExperimentSchema, {
    name: e.name,
    description: e.description,
    labels: e.labels,
    createTime: timestampFromDate(new Date(e.createTime)),
    latestRun: BigInt(e.latestRun),
    ...(e.deletedTime ? { deleteTime: timestampFromDate(new Date(e.deletedTime)) } : {}),
  });
}

export function runToProto(r: RunRecord): Run {
  return create(RunSchema, {
    name: runName(r.experiment, r.run),
    run: BigInt(r.run),
    status: RunStatus[r.status],
    startTime: timestampFromDate(new Date(r.startTime)),
    endTime: r.endTime ? timestampFromDate(new Date(r.endTime)) : undefined,
    tags: r.tags,
    node: r.node,
    runKey: r.runKey,
    creator: r.creator ?? "",
    deleteTime: r.deletedTime ? timestampFromDate(new Date(r.deletedTime)) : undefined,
  });
}
