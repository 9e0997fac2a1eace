import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ExperimentSchema, RunSchema, RunStatus, type Experiment, type Run } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
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

export function collections(deps: Pick<TrackingDeps, "metadata">) {
  return {
    experiments: deps.metadata.collection<ExperimentRecord>("tracking_experiments"),
    runs: deps.metadata.collection<RunRecord>("tracking_runs"),
    /** run_key → run number, per experiment. */
    runKeys: deps.metadata.collection<{ run: number }>("tracking_run_keys"),
  };
}

export function experimentToProto(e: ExperimentRecord): Experiment {
  return create(ExperimentSchema, {
    name: e.name,
    description: e.description,
    labels: e.labels,
    createTime: timestampFromDate(new Date(e.createTime)),
    latestRun: BigInt(e.latestRun),
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
  });
}
