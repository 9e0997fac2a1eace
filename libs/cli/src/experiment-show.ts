import type { DataQuery, EventRow, RunSummaryInfo } from "@kiln/sdk";
import { FilterSyntaxError, parseFilter } from "@kiln/data";
import { formatMetric } from "./job-show.js";
import { formatBytes } from "./output.js";

type RunSelection = NonNullable<DataQuery["run"]>;

export const stats = ["last", "min", "max", "count"] as const;
export type Stat = (typeof stats)[number];

/** `projects/default/experiments/e` → `e`: people type the short form, so they read it too. */
export function shortExperiment(name: string): string {
  return /^projects\/[^/]+\/experiments\/([^/]+)$/.exec(name)?.[1] ?? name;
}

/** `--run`: all, latest, 3, 1,3 or 2..5 (the forms the tracking service takes). */
export function parseRunSelection(text: string, what = "--run"): RunSelection {
  const t = text.trim();
  if (t === "all" || t === "latest") return t;
  if (/^\d+$/.test(t)) return Number(t);
  if (/^\d+(\s*,\s*\d+)+$/.test(t)) return t.split(",").map((n) => Number(n.trim()));
  const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(t);
  if (range) return { from: Number(range[1]), to: Number(range[2]) };
  throw new Error(`${what} is all, latest, a run number, a list 1,3 or a range 2..5; got "${text}"`);
}

/** `--step`: one step `5`, or a range `2..10`, `2..` or `..10`. */
export function parseStep(text: string): DataQuery["step"] {
  const t = text.trim();
  if (/^-?\d+$/.test(t)) return Number(t);
  const range = /^(-?\d+)?\s*\.\.\s*(-?\d+)?$/.exec(t);
  if (range && (range[1] !== undefined || range[2] !== undefined)) {
    return { from: range[1] === undefined ? undefined : Number(range[1]), to: range[2] === undefined ? undefined : Number(range[2]) };
  }
  throw new Error(`--step is a step number or a range A..B (either end may be left open); got "${text}"`);
}

/**
 * Checks the filter's syntax here, so a typo is reported at its position in what the
 * user typed (the service sees it combined with the other flags, where positions shift).
 */
export function checkFilter(filter: string | undefined): void {
  if (filter === undefined) return;
  try {
    parseFilter(filter);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw new Error(`--filter: ${e.message}`);
    throw e;
  }
}

export const eventColumns = ["run", "event", "dt", "node", "step", "key", "value"];

/** One row of `experiments:show`: dt to the millisecond (events a few ms apart must read apart). */
export function eventRow(r: EventRow): Record<string, unknown> {
  return { ...r, dt: r.dt.toISOString(), value: r.event === "artifact" ? artifactText(r.value) : r.value };
}

/** An artifact in a table: a file by its size and media type (its chunks and hashes are for `experiments:artifact`), a JSON value as itself. */
function artifactText(value: unknown): unknown {
  const a = value as { kind?: string; ref?: string; size?: number; mediaType?: string } | null;
  if (a?.kind === "file") return `file, ${formatBytes(a.size ?? 0)}${a.mediaType ? `, ${a.mediaType}` : ""}`;
  if (a?.kind === "json" && typeof a.ref === "string") return a.ref;
  return value;
}

/** The keys any of the runs has in what `pick` takes (params, metrics), sorted. */
export function keysOf(summaries: readonly RunSummaryInfo[], pick: (s: RunSummaryInfo) => Record<string, unknown>): string[] {
  return [...new Set(summaries.flatMap((s) => Object.keys(pick(s))))].sort();
}

/** Runs `runs:compare` shows, of the selected runs that exist, in the order asked (numbers) or ascending (all, a range, latest). */
export function comparedRuns(selection: RunSelection, existing: number[]): number[] {
  const ascending = [...existing].sort((a, b) => a - b);
  if (selection === "all") return ascending;
  if (selection === "latest") return ascending.slice(-1);
  if (typeof selection === "object" && !Array.isArray(selection)) return ascending.filter((n) => n >= selection.from && n <= selection.to);
  const wanted = typeof selection === "number" ? [selection] : selection;
  const missing = wanted.filter((n) => !existing.includes(n));
  if (missing.length) throw new Error(`no run ${missing.join(", ")} in this experiment`);
  return [...new Set(wanted)];
}

/**
 * Runs side by side: a column per run; rows `status`, `params.KEY`, `metrics.KEY` (named
 * as in the --json output). A metric cell is its last value with min and max when they differ,
 * or just the chosen `stat`.
 */
export function compareTable(runs: number[], summaries: RunSummaryInfo[], stat?: Stat): { rows: Record<string, unknown>[]; columns: string[] } {
  const byRun = new Map(summaries.map((s) => [s.run, s]));
  const columns = ["run", ...runs.map(String)];
  const keys = (pick: (s: RunSummaryInfo) => Record<string, unknown>) => keysOf(summaries, pick);
  const row = (label: string, cell: (s: RunSummaryInfo) => unknown) =>
    Object.fromEntries([["run", label], ...runs.map((n) => [String(n), byRun.has(n) ? cell(byRun.get(n)!) : undefined])]);
  const metricCell = (m: RunSummaryInfo["metrics"][string] | undefined) => {
    if (!m) return undefined;
    if (stat) return stat === "count" ? m.count : formatMetric(m[stat]);
    return m.min === m.max ? formatMetric(m.last) : `${formatMetric(m.last)} (min ${formatMetric(m.min)}, max ${formatMetric(m.max)})`;
  };
  return {
    columns,
    rows: [
      row("status", (s) => s.status),
      ...keys((s) => s.params).map((k) => row(`params.${k}`, (s) => s.params[k])),
      ...keys((s) => s.metrics).map((k) => row(`metrics.${k}`, (s) => metricCell(s.metrics[k]))),
    ],
  };
}
