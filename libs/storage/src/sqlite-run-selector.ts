import type { RunSelector } from "./event-store.js";

/** The SQL conditions (on a `run` column) and their parameters that select these runs; none for all. */
export function runSelectorSql(runs: RunSelector): { where: string[]; params: unknown[] } {
  // One parameter for the list, since SQLite takes at most 32,766 (a page of MLflow's run search may name 50,000 runs).
  if ("runs" in runs) return { where: ["run IN (SELECT value FROM json_each(?))"], params: [JSON.stringify(runs.runs)] };
  if ("from" in runs) return { where: ["run BETWEEN ? AND ?"], params: [runs.from, runs.to] };
  return { where: [], params: [] };
}

/** SQL's list of a placeholder per value, for `IN (…)`: NULL for none, which matches nothing. */
export function sqlInList(values: readonly unknown[]): string {
  return values.map(() => "?").join(",") || "NULL";
}
