import { Code } from "@connectrpc/connect";
import { aborted, alreadyExists, isKilnError, notFound, parseParent } from "@kiln/core";
import { matchesFilter, type FilterExpr } from "@kiln/data";
import { changeStored } from "./compare-and-set.js";
import type { TrackingDeps } from "./deps.js";
import { artifactFiles, loggedModelFiles, trackingGarbage } from "./garbage.js";
import { deleteTraceRecords, tracesOf } from "./mlflow-trace-store.js";
import { collections, type ExperimentRecord } from "./records.js";
import { experimentName, parseExperimentName } from "./names.js";

export function nowOf(deps: TrackingDeps): Date {
  return deps.now?.() ?? new Date();
}

export async function createExperiment(deps: TrackingDeps, parent: string, id: string, description: string, labels: Record<string, string>): Promise<ExperimentRecord> {
  const name = experimentName(parseParent(parent), id);
  const record: ExperimentRecord = { name, description, labels, createTime: nowOf(deps).toISOString(), latestRun: 0, runStartsKept: true };
  await collections(deps).experiments.create(name, record).catch((e: unknown) => {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("EXPERIMENT_EXISTS", `experiment ${name} already exists`, { experiment: name });
    throw e;
  });
  return record;
}

export async function getExperiment(deps: TrackingDeps, name: string): Promise<{ record: ExperimentRecord; rev: number }> {
  parseExperimentName(name);
  const found = await collections(deps).experiments.get(name);
  if (!found) throw notFound("EXPERIMENT_NOT_FOUND", `experiment ${name} does not exist`, { experiment: name });
  return { record: found.value, rev: found.rev };
}

/** Creates the experiment unless it exists (runs opened with create_experiment). */
export async function ensureExperiment(deps: TrackingDeps, name: string): Promise<void> {
  const { project, id } = parseExperimentName(name);
  if (await collections(deps).experiments.get(name)) return;
  await createExperiment(deps, project, id, "", {}).catch((e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
  });
}

/** Changes a stored experiment by a compare-and-set, as changeRun does a run. */
export async function changeExperiment(deps: TrackingDeps, name: string, change: (e: ExperimentRecord) => ExperimentRecord): Promise<ExperimentRecord> {
  parseExperimentName(name);
  return changeStored(collections(deps).experiments, name, change, {
    missing: () => notFound("EXPERIMENT_NOT_FOUND", `experiment ${name} does not exist`, { experiment: name }),
    busy: () => aborted("EXPERIMENT_CONTENTION", `experiment ${name} is changing too often; try again`),
  }, 50);
}

/** Takes the next run number: 1, 2, 3... never reused while the experiment exists. */
export async function nextRunNumber(deps: TrackingDeps, name: string): Promise<number> {
  const { latestRun } = await changeExperiment(deps, name, (e) => ({ ...e, latestRun: e.latestRun + 1 }));
  return latestRun;
}

/**
 * Deletes the experiment with its runs and events (and MLflow's logged models and traces in it); the
 * name is free again. Its artifact files are collected after the grace period unless
 * another experiment logged them too.
 */
export async function deleteExperiment(deps: TrackingDeps, name: string): Promise<void> {
  await getExperiment(deps, name);
  const { experiments, runs, runStarts, runKeys, loggedModels } = collections(deps);
  const { project } = parseExperimentName(name);
  const files = await artifactFiles(deps, name);
  const models = (await loggedModels.list({ prefix: `${project}/` })).filter((m) => m.value.experiment === name);
  await experiments.delete(name);
  await runs.deletePrefix(`${name}/runs/`);
  await runStarts.deletePrefix(`${name}/`);
  await runKeys.deletePrefix(`${name}/`);
  await deps.events.deleteExperiment(name);
  for (const m of models) await loggedModels.delete(m.key);
  await deleteTraceRecords(deps, project, await tracesOf(deps, name));
  const garbage = trackingGarbage(deps);
  await garbage.mark([...files, ...models.flatMap((m) => loggedModelFiles(m.value))]);
  await garbage.sweep();
}

/** ListExperiments filters: name (the short id), description, latest_run, create_time, labels.KEY. */
export function matchesExperimentFilter(filter: FilterExpr, e: ExperimentRecord): boolean {
  return matchesFilter(filter, (column) => {
    if (column.startsWith("labels.")) return e.labels[column.slice("labels.".length)];
    if (column === "name") return e.name.slice(e.name.lastIndexOf("/") + 1);
    if (column === "description") return e.description;
    if (column === "latest_run") return e.latestRun;
    if (column === "create_time") return e.createTime;
    return undefined;
  });
}
