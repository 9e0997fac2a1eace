import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { isId, isKilnError, notFound } from "@kiln/core";
import { experimentName } from "./names.js";

/**
 * How MLflow's ids map onto Kiln's names. An MLflow experiment_id is the experiment's id
 * in the project; its MLflow name is the label `mlflow.name`, or the id when the label is
 * absent. A run_id is `{experiment_id}-r{run number}`: MLflow's clients take run ids of
 * letters, digits, "_" and "-" only, and read an id with no lowercase letter in it as
 * no run id in `run_id IN (...)` filters.
 */
export const MLFLOW_NAME_LABEL = "mlflow.name";
/** MLflow's clients log to experiment "0" when none is set: Kiln keeps it as experiment `0`, named "Default". */
export const DEFAULT_EXPERIMENT_ID = "0";
export const DEFAULT_EXPERIMENT_NAME = "Default";

export function experimentOfId(project: string, experimentId: string): string {
  if (!isId(experimentId)) throw notFound("EXPERIMENT_NOT_FOUND", `no experiment with id "${experimentId.slice(0, 80)}"`);
  return experimentName(project, experimentId);
}

/** `projects/{p}/experiments/{id}` → the id, which is MLflow's experiment_id. */
export function experimentIdOf(name: string): string {
  return name.slice(name.lastIndexOf("/") + 1);
}

export function runIdOf(experimentId: string, run: number): string {
  return `${experimentId}-r${run}`;
}

/** A run_id → the experiment's id and the run's number; NotFound for what no run can be named. */
export function parseRunId(runId: string): { experimentId: string; run: number } {
  const m = /^(.+)-r(\d{1,10})$/.exec(runId);
  if (!m || !isId(m[1]!) || Number(m[2]) < 1) throw notFound("RUN_NOT_FOUND", `no run with id "${runId.slice(0, 80)}"`);
  return { experimentId: m[1]!, run: Number(m[2]) };
}

/**
 * The ids a new experiment named `name` may take, best first: the name itself when it is
 * an id of lowercase letters, digits, "_" and "-" (not digits only: those look like
 * MLflow's own ids, "0" among them), else a slug of it with a hash of the whole name (so two names that
 * slug alike still differ), then the same with -2, -3... for ids that a renamed
 * experiment keeps. A registered model passes its own test of a name that is an id.
 */
export function* idsForName(name: string, isOwnId = (n: string) => /^[a-z0-9][a-z0-9_-]{0,63}$/.test(n) && !/^\d+$/.test(n), fallback = "experiment"): Generator<string> {
  const base = isOwnId(name) ? name : `${slug(name, fallback)}-${createHash("sha256").update(name).digest("hex").slice(0, 8)}`;
  yield base;
  for (let i = 2; i < 100; i++) yield `${base}-${i}`;
}

function slug(name: string, fallback: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60);
  return s || fallback;
}

/**
 * Creates what an MLflow name names under the first free id of `ids`. An id taken
 * (AlreadyExists) moves on to the next: a create that raced this one took it, and then
 * the name is taken too (`taken()`), or something renamed keeps it.
 */
export async function createUnderFreeId<T>(ids: Iterable<string>, create: (id: string) => Promise<T>, nameTaken: () => Promise<boolean>, taken: () => Error): Promise<T> {
  if (await nameTaken()) throw taken();
  for (const id of ids) {
    try {
      return await create(id);
    } catch (e) {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
      if (await nameTaken()) throw taken();
    }
  }
  throw taken();
}
