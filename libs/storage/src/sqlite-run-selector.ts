import type { RunSelector } from "./event-store.js";

/** The SQL conditions (on a `run` column) and their parameters that select these runs; none for all. */
export function runSelectorSql(runs: RunSelector): { where: string[]; params: unknown[] } {
  if ("runs" in runs) return { where: [`run IN (${runs.runs.map(() => "?").join(",") || "NULL"})`], params: [...runs.runs] };
  if ("from" in runs) return { where: ["run BETWEEN ? AND ?"], params: [runs.from, runs.to] };
  return { where: [], params: [] };
}
