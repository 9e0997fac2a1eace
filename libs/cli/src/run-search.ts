import type { RunSummaryInfo } from "@kiln/sdk";
import { keysOf } from "./experiment-show.js";
import { formatMetric } from "./job-show.js";

/**
 * `kiln runs`: a row per run (run, status, started, then `params.KEY` and `metrics.KEY`, the
 * metric's last value), the columns an order names first, so the value runs are ranked by
 * stands beside their numbers.
 */
export function runsTable(summaries: RunSummaryInfo[], orderBy: string[]): { rows: Record<string, unknown>[]; columns: string[] } {
  const data = [...keysOf(summaries, (s) => s.params).map((k) => `params.${k}`), ...keysOf(summaries, (s) => s.metrics).map((k) => `metrics.${k}`)];
  const ranked = orderBy.map(orderedColumn).filter((c): c is string => c !== undefined && data.includes(c));
  return {
    columns: ["run", "status", "started", ...new Set([...ranked, ...data])],
    rows: summaries.map((s) => ({
      run: s.run,
      status: s.status,
      started: s.startTime,
      ...Object.fromEntries(Object.entries(s.params).map(([k, v]) => [`params.${k}`, v])),
      ...Object.fromEntries(Object.entries(s.metrics).map(([k, m]) => [`metrics.${k}`, formatMetric(m.last)])),
    })),
  };
}

/** MLflow's `metrics.acc DESC`, `metric.acc`, ``params.`learning rate` `` → the column it names; undefined for an attribute or a tag. */
function orderedColumn(entry: string): string | undefined {
  const m = /^\s*(metrics?|params?|parameters?)\.(`[^`]+`|"[^"]+"|\S+)/i.exec(entry);
  if (!m) return undefined;
  const key = /^[`"]/.test(m[2]!) ? m[2]!.slice(1, -1) : m[2]!;
  return `${m[1]!.toLowerCase().startsWith("metric") ? "metrics" : "params"}.${key}`;
}
