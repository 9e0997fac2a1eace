import { Float64, Int32, Table, TimestampMillisecond, Utf8, vectorFromArray, type Vector } from "apache-arrow";
import type { RunSummaryInfo } from "@kiln/sdk";
import { keysOf } from "./experiment-show.js";
import { formatMetric } from "./job-show.js";

/**
 * `kiln runs`: a row per run (run, status, started, then `params.KEY` and `metrics.KEY`, the
 * metric's last value), the columns an order names first, so the value runs are ranked by
 * stands beside their numbers.
 */
export function runsTable(summaries: RunSummaryInfo[], orderBy: string[]): { rows: Record<string, unknown>[]; columns: string[] } {
  return {
    columns: ["run", "status", "started", ...(summaries.some((s) => s.deleteTime) ? ["deleted"] : []), ...dataColumns(summaries, orderBy)],
    rows: summaries.map((s) => ({
      run: s.run,
      status: s.status,
      started: s.startTime,
      deleted: s.deleteTime ? "in MLflow" : "",
      ...Object.fromEntries(Object.entries(s.params).map(([k, v]) => [`params.${k}`, v])),
      ...Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [`metrics.${k}`, formatMetric(m.last)])),
    })),
  };
}

/**
 * `kiln runs -o runs.parquet`: the same columns as a table (MLflow's search_runs
 * DataFrame): run, status, start and end times, each param as text and each metric's last
 * value as a Float64, null where a run has none.
 */
export function runsArrowTable(summaries: RunSummaryInfo[], orderBy: string[]): Table {
  const columns: Record<string, Vector> = {
    run: vectorFromArray(summaries.map((s) => s.run), new Int32()),
    status: vectorFromArray(summaries.map((s) => s.status), new Utf8()),
    start_time: vectorFromArray(summaries.map((s) => s.startTime?.getTime() ?? null), new TimestampMillisecond()),
    end_time: vectorFromArray(summaries.map((s) => s.endTime?.getTime() ?? null), new TimestampMillisecond()),
  };
  for (const column of dataColumns(summaries, orderBy)) {
    const [kind, key] = [column.slice(0, column.indexOf(".")), column.slice(column.indexOf(".") + 1)];
    columns[column] =
      kind === "params"
        ? vectorFromArray(summaries.map((s) => (key in s.params ? paramText(s.params[key]) : null)), new Utf8())
        : vectorFromArray(summaries.map((s) => s.metrics[key]?.last ?? null), new Float64());
  }
  return new Table(columns);
}

/** `params.KEY` and `metrics.KEY` of every key any run has, those an order names first. */
function dataColumns(summaries: RunSummaryInfo[], orderBy: string[]): string[] {
  const data = [...keysOf(summaries, (s) => s.params).map((k) => `params.${k}`), ...keysOf(summaries, (s) => s.metrics).map((k) => `metrics.${k}`)];
  const ranked = orderBy.map(orderedColumn).filter((c): c is string => c !== undefined && data.includes(c));
  return [...new Set([...ranked, ...data])];
}

/** A param as MLflow keeps it: text (a number or JSON value as its JSON). */
function paramText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** MLflow's `metrics.acc DESC`, `metric.acc`, ``params.`learning rate` `` → the column it names; undefined for an attribute or a tag. */
function orderedColumn(entry: string): string | undefined {
  const m = /^\s*(metrics?|params?|parameters?)\.(`[^`]+`|"[^"]+"|\S+)/i.exec(entry);
  if (!m) return undefined;
  const key = /^[`"]/.test(m[2]!) ? m[2]!.slice(1, -1) : m[2]!;
  return `${m[1]!.toLowerCase().startsWith("metric") ? "metrics" : "params"}.${key}`;
}

/** `kiln runs:show`'s fields of a run: its status, times, host, who and what opened it, tags. */
export function runFields(s: RunSummaryInfo): [string, unknown][] {
  const seconds = s.startTime && s.endTime ? (s.endTime.getTime() - s.startTime.getTime()) / 1000 : undefined;
  return [
    ["run", s.run],
    ["status", s.status],
    ["started", s.startTime],
    ["ended", s.endTime],
    ["duration", seconds === undefined ? "" : `${formatMetric(seconds)} s`],
    ["host", s.node],
    ["opened by", [s.creator, s.runKey].filter(Boolean).join(", ")],
    ["tags", Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(", ")],
    ...(s.deleteTime ? [["deleted", `${s.deleteTime.toISOString()} (by MLflow's API; its restore undoes it)`] as [string, unknown]] : []),
  ];
}
