import { timestampDate } from "@bufbuild/protobuf/wkt";
import { RunStatus, type Run, type RunSummary } from "@kiln/proto/kiln/tracking/v1/tracking_pb";

/** A run: its status, times, host, who and what opened it, and tags. */
export interface RunInfo {
  run: number;
  status: string;
  startTime?: Date;
  endTime?: Date;
  /** The host it ran on. */
  node: string;
  /** Who opened it (its token's subject; "" without token checks). */
  creator: string;
  /** What opened it, e.g. a runtime job's name. */
  runKey: string;
  tags: Record<string, string>;
  /** Set while MLflow's API has it deleted (MLflow's restore undoes it). */
  deleteTime?: Date;
}

/** A run side by side with others: its info, and each metric's last value and step, min, max and count, and its params. */
export interface RunSummaryInfo extends RunInfo {
  /** Each metric's latest value (the highest step's, then the newest's) and that step, its least and greatest (NaN left out), and how many points it has. */
  metrics: Record<string, { last: number; lastStep: number; min: number; max: number; count: number }>;
  params: Record<string, unknown>;
}

export function runInfo(run: Run): RunInfo {
  return {
    run: Number(run.run),
    status: RunStatus[run.status].toLowerCase(),
    ...(run.startTime && { startTime: timestampDate(run.startTime) }),
    ...(run.endTime && { endTime: timestampDate(run.endTime) }),
    node: run.node,
    creator: run.creator,
    runKey: run.runKey,
    tags: { ...run.tags },
    ...(run.deleteTime && { deleteTime: timestampDate(run.deleteTime) }),
  };
}

export function runSummaryInfo(s: RunSummary): RunSummaryInfo {
  return {
    ...runInfo(s.run!),
    metrics: Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [k, { last: m.last, lastStep: Number(m.lastStep), min: m.min, max: m.max, count: Number(m.count) }])),
    params: Object.fromEntries(Object.entries(s.params).map(([k, v]) => [k, JSON.parse(v) as unknown])),
  };
}
