import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { changeExperiment } from "./experiments.js";
import { runKey } from "./names.js";
import { collections, type ExperimentRecord, type RunRecord } from "./records.js";

/**
 * An experiment's runs in order of their start time: `{experiment}/{start ms}/{run}` → the
 * run's number, so that MLflow's usual run search (one experiment, newest first) reads its
 * runs in that order and stops when its page is full, where any other reads them all.
 *
 * An entry is written before its run: a start that fails between the two, or loses a race
 * for its run, leaves an entry whose run is missing or started at another time, which
 * readers skip (isCurrent), and which goes with the experiment. Runs from before the index
 * get theirs on the experiment's next search (ensureRunStarts).
 */
export function runStartKey(experiment: string, startTime: string, run: number): string {
  return `${experiment}/${String(startMs(startTime)).padStart(15, "0")}/${String(run).padStart(10, "0")}`;
}

/** A start before 1970 sorts as 1970 (its key has no sign). */
function startMs(startTime: string): number {
  return Math.max(0, Date.parse(startTime));
}

/** Writes the run's entry (before the run itself); one already there is kept. */
export async function indexRunStart(deps: TrackingDeps, run: Pick<RunRecord, "experiment" | "startTime" | "run">): Promise<void> {
  await collections(deps)
    .runStarts.create(runStartKey(run.experiment, run.startTime, run.run), { run: run.run })
    .catch((e: unknown) => {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
    });
}

/** Whether an entry names this run as it is stored (not a leftover of a failed start). */
function isCurrent(entryKey: string, run: RunRecord | undefined): run is RunRecord {
  return run !== undefined && entryKey === runStartKey(run.experiment, run.startTime, run.run);
}

/**
 * Makes an entry for each of the experiment's runs that has none: all of them once for an
 * experiment from before the index (it is then marked), and after that whenever its entries
 * are fewer than its runs (a run started by a tracking service of an older version).
 */
export async function ensureRunStarts(deps: TrackingDeps, experiment: ExperimentRecord): Promise<void> {
  const { runs, runStarts } = collections(deps);
  if (experiment.runStartsKept) {
    const [indexed, started] = await Promise.all([runStarts.count(`${experiment.name}/`), runs.count(`${experiment.name}/runs/`)]);
    if (indexed >= started) return;
  }
  const had = new Set((await runStarts.list({ prefix: `${experiment.name}/` })).map((e) => e.key));
  for (const { value } of await runs.list({ prefix: `${experiment.name}/runs/` })) {
    if (!had.has(runStartKey(experiment.name, value.startTime, value.run))) await indexRunStart(deps, value);
  }
  if (!experiment.runStartsKept) await changeExperiment(deps, experiment.name, (e) => ({ ...e, runStartsKept: true }));
}

/** The runs these entries name, each with its entry's key; undefined for a leftover. */
export async function runsOfEntries(deps: TrackingDeps, experiment: string, entries: readonly { key: string; value: { run: number } }[]): Promise<(RunRecord | undefined)[]> {
  const found = await collections(deps).runs.getMany(entries.map((e) => runKey(experiment, e.value.run)));
  return found.map((r, i) => (isCurrent(entries[i]!.key, r?.value) ? r.value : undefined));
}
