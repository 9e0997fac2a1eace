import { Code } from "@connectrpc/connect";
import { alreadyExists, failedPrecondition, invalidArgument, isKilnError, notFound, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { changeExperiment, createExperiment, nowOf } from "./experiments.js";
import { keyValueList, keyValues, listOf, optionalInteger, optionalText, requiredText, checkTag as checkMlflowTag, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { createUnderFreeId, DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, experimentIdOf, experimentOfId, idsForName, MLFLOW_NAME_LABEL } from "./mlflow-ids.js";
import { matchesAll, pageOf, parseOrder, parseSearchFilter, sortBy, type Lookup, type OrderKey } from "./mlflow-search.js";
import { collections, type ExperimentRecord } from "./records.js";

const MAX_NAME_CHARS = 500;

export function idOfExperiment(e: ExperimentRecord): string {
  return experimentIdOf(e.name);
}

export function mlflowNameOf(e: ExperimentRecord): string {
  return e.labels[MLFLOW_NAME_LABEL] ?? idOfExperiment(e);
}

/** An experiment as MLflow's clients read it; Kiln's labels are its tags. */
export function experimentJson(e: ExperimentRecord): Json {
  const id = idOfExperiment(e);
  const created = Date.parse(e.createTime);
  return {
    experiment_id: id,
    name: mlflowNameOf(e),
    artifact_location: `mlflow-artifacts:/${id}`,
    lifecycle_stage: e.deletedTime ? "deleted" : "active",
    creation_time: created,
    last_update_time: e.updateTime ? Date.parse(e.updateTime) : created,
    tags: keyValueList(Object.entries(e.labels).filter(([key]) => key !== MLFLOW_NAME_LABEL)),
  };
}

/**
 * The project's experiment "0", named "Default", where MLflow's clients log when no
 * experiment is set. Made the first time an MLflow call of the project needs it.
 */
export async function ensureDefaultExperiment(deps: TrackingDeps, project: string): Promise<void> {
  const name = experimentOfId(project, DEFAULT_EXPERIMENT_ID);
  if (await collections(deps).experiments.get(name)) return;
  await createExperiment(deps, project, DEFAULT_EXPERIMENT_ID, "", { [MLFLOW_NAME_LABEL]: DEFAULT_EXPERIMENT_NAME }).catch((e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
  });
}

/** The experiment an MLflow id names in the project ("0" made when first asked for). */
export async function experimentById(deps: TrackingDeps, project: string, experimentId: string): Promise<ExperimentRecord> {
  if (experimentId === DEFAULT_EXPERIMENT_ID) await ensureDefaultExperiment(deps, project);
  const name = experimentOfId(project, experimentId);
  const found = await collections(deps).experiments.get(name);
  if (!found) throw notFound("EXPERIMENT_NOT_FOUND", `No Experiment with id=${experimentId} exists`);
  return found.value;
}

/**
 * The experiment an MLflow id names, which must not be deleted: MLflow refuses to start a
 * run, a trace or a logged model in a deleted experiment, or to change its tags.
 */
export async function activeExperimentById(deps: TrackingDeps, project: string, experimentId: string): Promise<ExperimentRecord> {
  const found = await experimentById(deps, project, experimentId);
  if (found.deletedTime) throw invalidArgument("EXPERIMENT_DELETED", `The experiment ${experimentId} must be in the 'active' state. Current state is deleted.`);
  return found;
}

async function allExperiments(deps: TrackingDeps, project: string): Promise<ExperimentRecord[]> {
  await ensureDefaultExperiment(deps, project);
  return (await collections(deps).experiments.list({ prefix: `${project}/experiments/` })).map((r) => r.value);
}

async function experimentByName(deps: TrackingDeps, project: string, name: string): Promise<ExperimentRecord | undefined> {
  return (await allExperiments(deps, project)).find((e) => mlflowNameOf(e) === name);
}

function checkName(name: string): string {
  if (name.length > MAX_NAME_CHARS) throw invalidArgument("INVALID_NAME", `an experiment's name is at most ${MAX_NAME_CHARS} characters`);
  return name;
}

function checkTag(key: string, value: string): void {
  checkMlflowTag(key, value, "an experiment", { key: MLFLOW_NAME_LABEL, holds: "the experiment's name: rename it instead" });
}

async function create(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const name = checkName(requiredText(fields, "name"));
  const tags = keyValues(fields, "tags");
  for (const t of tags) checkTag(t.key, t.value);
  if (optionalText(fields, "artifact_location")) throw invalidArgument("ARTIFACT_LOCATION", "Kiln keeps every run's artifacts itself: create the experiment without an artifact_location");
  const labels = Object.fromEntries(tags.map((t) => [t.key, t.value]));
  return createUnderFreeId(
    idsForName(name),
    async (id) => ({ experiment_id: idOfExperiment(await createExperiment(deps, project, id, "", id === name ? labels : { ...labels, [MLFLOW_NAME_LABEL]: name })) }),
    async () => (await experimentByName(deps, project, name)) !== undefined,
    () => alreadyExists("EXPERIMENT_EXISTS", `Experiment(name=${name}) already exists.`),
  );
}

async function rename(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const e = await experimentById(deps, project, requiredText(fields, "experiment_id"));
  if (e.deletedTime) throw failedPrecondition("EXPERIMENT_DELETED", "Cannot rename a non-active experiment.");
  const name = checkName(requiredText(fields, "new_name"));
  const other = await experimentByName(deps, project, name);
  if (other && other.name !== e.name) throw alreadyExists("EXPERIMENT_EXISTS", `Experiment(name=${name}) already exists.`);
  await changeExperiment(deps, e.name, (r) => {
    const labels = { ...r.labels };
    if (name === idOfExperiment(r)) delete labels[MLFLOW_NAME_LABEL];
    else labels[MLFLOW_NAME_LABEL] = name;
    return { ...r, labels, updateTime: nowOf(deps).toISOString() };
  });
  return {};
}

async function setTag(deps: TrackingDeps, { project, fields }: MlflowCall, remove: boolean): Promise<Json> {
  const e = await activeExperimentById(deps, project, requiredText(fields, "experiment_id"));
  const key = requiredText(fields, "key");
  const value = remove ? "" : (optionalText(fields, "value") ?? "");
  checkTag(key, value);
  await changeExperiment(deps, e.name, (r) => {
    const labels = { ...r.labels };
    if (remove) delete labels[key];
    else labels[key] = value;
    return { ...r, labels, updateTime: nowOf(deps).toISOString() };
  });
  return {};
}

/**
 * MLflow's DeleteExperiment and RestoreExperiment. A deleted experiment is kept, with its
 * runs, artifacts and traces, as MLflow's server keeps it until `mlflow gc`: its runs show
 * as deleted, and restoring it brings them back (except those deleted on their own before,
 * which MLflow's restore would bring back too). Kiln's DeleteExperiment drops it for good.
 */
async function setExperimentDeleted(deps: TrackingDeps, { project, fields }: MlflowCall, deleted: boolean): Promise<Json> {
  const id = requiredText(fields, "experiment_id");
  if (deleted && id === DEFAULT_EXPERIMENT_ID) throw invalidArgument("DEFAULT_EXPERIMENT", "Cannot delete the default experiment '0'.");
  const e = await experimentById(deps, project, id);
  const now = nowOf(deps).toISOString();
  await changeExperiment(deps, e.name, (r) => {
    // As MLflow: deleting a deleted experiment, or restoring an active one, finds none.
    if (Boolean(r.deletedTime) === deleted) throw notFound("EXPERIMENT_NOT_FOUND", `No Experiment with id=${id} exists`);
    const { deletedTime: _, ...rest } = r;
    return { ...rest, updateTime: now, ...(deleted ? { deletedTime: now } : {}) };
  });
  return {};
}

const VIEWS: Record<string, "active" | "deleted" | "all"> = { ACTIVE_ONLY: "active", DELETED_ONLY: "deleted", ALL: "all", "1": "active", "2": "deleted", "3": "all" };

/** MLflow's view_type: which lifecycle stages a search shows. */
export function viewOf(fields: Record<string, Json>, name: string): "active" | "deleted" | "all" {
  const v = fields[name] ?? "ACTIVE_ONLY";
  const view = VIEWS[String(v)];
  if (!view) throw invalidArgument("INVALID_VIEW_TYPE", `${name} is ACTIVE_ONLY, DELETED_ONLY or ALL, not ${JSON.stringify(v)}`);
  return view;
}

/** Whether a search of this view_type shows what is (or is not) deleted. */
export function inView(view: "active" | "deleted" | "all", deleted: boolean): boolean {
  return view === "all" || (view === "deleted") === deleted;
}

const LATEST_FIRST: OrderKey[] = [{ kind: "attribute", key: "last_update_time", descending: true }];
const TIE_BREAK: OrderKey[] = [{ kind: "attribute", key: "experiment_id", descending: true }];

function lookupOf(e: ExperimentRecord): Lookup {
  return (kind, key) => {
    if (kind === "tag") return key === MLFLOW_NAME_LABEL ? undefined : e.labels[key];
    if (key === "name") return mlflowNameOf(e);
    if (key === "experiment_id") return idOfExperiment(e);
    if (key === "creation_time") return Date.parse(e.createTime);
    if (key === "last_update_time") return Date.parse(e.updateTime ?? e.createTime);
    return undefined;
  };
}

async function search(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const filter = parseSearchFilter(optionalText(fields, "filter") ?? "", "experiments");
  const order = parseOrder(listOf(fields, "order_by"), "experiments");
  const view = viewOf(fields, "view_type");
  const found = (await allExperiments(deps, project)).filter((e) => inView(view, Boolean(e.deletedTime)) && matchesAll(filter, lookupOf(e)));
  sortBy(found, [...(order.length ? order : LATEST_FIRST), ...TIE_BREAK], lookupOf);
  const page = pageOf(found, optionalInteger(fields, "max_results"), optionalText(fields, "page_token"));
  return { experiments: page.items.map(experimentJson), ...(page.next ? { next_page_token: page.next } : {}) };
}

export function experimentEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "mlflow/experiments/create": { method: "POST", role: "write", answer: (c) => create(deps, c) },
    "mlflow/experiments/get": { method: "GET", role: "read", answer: async (c) => ({ experiment: experimentJson(await experimentById(deps, c.project, requiredText(c.fields, "experiment_id"))) }) },
    "mlflow/experiments/get-by-name": {
      method: "GET",
      role: "read",
      async answer({ project, fields }) {
        const name = requiredText(fields, "experiment_name");
        const found = await experimentByName(deps, project, name);
        if (!found) throw notFound("EXPERIMENT_NOT_FOUND", `Could not find experiment with name '${name}'`);
        return { experiment: experimentJson(found) };
      },
    },
    "mlflow/experiments/search": { method: ["POST", "GET"], role: "read", answer: (c) => search(deps, c) },
    "mlflow/experiments/update": { method: "POST", role: "write", answer: (c) => rename(deps, c) },
    "mlflow/experiments/set-experiment-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, false) },
    "mlflow/experiments/delete-experiment-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, true) },
    "mlflow/experiments/delete": { method: "POST", role: "admin", answer: (c) => setExperimentDeleted(deps, c, true) },
    "mlflow/experiments/restore": { method: "POST", role: "admin", answer: (c) => setExperimentDeleted(deps, c, false) },
  };
}
