import { Code } from "@connectrpc/connect";
import { randomBytes } from "node:crypto";
import { failedPrecondition, invalidArgument, isKilnError, notFound, pathPart, type Json } from "@kiln/core";
import { changeStored } from "./compare-and-set.js";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { loggedModelFiles, trackingGarbage } from "./garbage.js";
import { activeExperimentById, experimentById, idOfExperiment } from "./mlflow-experiments.js";
import { doubleJson, keyValueList, keyValues, listOf, optionalInteger, optionalText, requiredText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { checkRunTag, runById } from "./mlflow-runs.js";
import { entriesFromRoot } from "./mlflow-artifact-tree.js";
import { matchesAll, pageOf, parseSearchFilter, sortBy, type Lookup, type OrderKey } from "./mlflow-search.js";
import { collections, type LoggedModelRecord } from "./records.js";

const STATUSES: Record<string, LoggedModelRecord["status"]> = {
  LOGGED_MODEL_PENDING: "LOGGED_MODEL_PENDING",
  LOGGED_MODEL_READY: "LOGGED_MODEL_READY",
  LOGGED_MODEL_UPLOAD_FAILED: "LOGGED_MODEL_UPLOAD_FAILED",
  "1": "LOGGED_MODEL_PENDING",
  "2": "LOGGED_MODEL_READY",
  "3": "LOGGED_MODEL_UPLOAD_FAILED",
};

const STATUS_IN_FILTERS: Record<LoggedModelRecord["status"], string> = { LOGGED_MODEL_PENDING: "PENDING", LOGGED_MODEL_READY: "READY", LOGGED_MODEL_UPLOAD_FAILED: "FAILED" };

function modelKey(project: string, modelId: string): string {
  return `${project}/${modelId}`;
}

export function modelArtifactUri(experimentId: string, modelId: string): string {
  return `mlflow-artifacts:/${experimentId}/models/${modelId}/artifacts`;
}

export async function loggedModelById(deps: TrackingDeps, project: string, modelId: string): Promise<LoggedModelRecord> {
  const found = await collections(deps).loggedModels.get(modelKey(project, modelId));
  if (!found) throw notFound("LOGGED_MODEL_NOT_FOUND", `Logged model with ID '${modelId}' not found.`);
  return found.value;
}

/** Changes a logged model by a compare-and-set, as changeRun does a run. */
export async function changeLoggedModel(deps: TrackingDeps, project: string, modelId: string, change: (m: LoggedModelRecord) => LoggedModelRecord): Promise<LoggedModelRecord> {
  return changeStored(collections(deps).loggedModels, modelKey(project, modelId), (m) => ({ ...change(m), updateTime: nowOf(deps).toISOString() }), {
    missing: () => notFound("LOGGED_MODEL_NOT_FOUND", `Logged model with ID '${modelId}' not found.`),
    busy: () => failedPrecondition("LOGGED_MODEL_CONTENTION", `logged model ${modelId} is changing too often; try again`),
  }, 50);
}

export function loggedModelJson(m: LoggedModelRecord): Json {
  const experimentId = experimentIdOf(m.experiment);
  return {
    info: {
      model_id: m.modelId,
      experiment_id: experimentId,
      name: m.name,
      creation_timestamp_ms: Date.parse(m.createTime),
      last_updated_timestamp_ms: Date.parse(m.updateTime),
      artifact_uri: modelArtifactUri(experimentId, m.modelId),
      status: m.status,
      ...(m.modelType ? { model_type: m.modelType } : {}),
      ...(m.sourceRunId ? { source_run_id: m.sourceRunId } : {}),
      tags: keyValueList(Object.entries(m.tags)),
    },
    data: {
      params: keyValueList(Object.entries(m.params)),
      metrics: m.metrics.map((p) => ({ key: p.key, value: doubleJson(p.value), timestamp: p.timestamp, step: p.step, run_id: p.runId, model_id: m.modelId })),
    },
  };
}

async function create(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const experiment = await activeExperimentById(deps, project, requiredText(fields, "experiment_id"));
  const sourceRunId = optionalText(fields, "source_run_id") ?? "";
  if (sourceRunId) {
    const { experimentId } = await runById(deps, project, sourceRunId);
    if (experimentId !== idOfExperiment(experiment)) throw invalidArgument("RUN_IN_OTHER_EXPERIMENT", `run ${sourceRunId} is not in experiment ${idOfExperiment(experiment)}`);
  }
  const now = nowOf(deps).toISOString();
  const record: LoggedModelRecord = {
    project,
    modelId: `m-${randomBytes(16).toString("hex")}`,
    experiment: experiment.name,
    name: optionalText(fields, "name") ?? "model",
    modelType: optionalText(fields, "model_type") ?? "",
    sourceRunId,
    status: "LOGGED_MODEL_PENDING",
    createTime: now,
    updateTime: now,
    params: checkedEntries(fields, "params"),
    tags: checkedEntries(fields, "tags"),
    metrics: [],
    files: {},
  };
  await collections(deps).loggedModels.create(modelKey(project, record.modelId), record);
  return { model: loggedModelJson(record) };
}

/** A model's params or tags, held to MLflow's limits for run tags (keys 250 characters, values 8,000). */
function checkedEntries(fields: Record<string, Json>, name: "params" | "tags"): Record<string, string> {
  const entries = keyValues(fields, name);
  for (const e of entries) checkRunTag(e.key, e.value);
  return Object.fromEntries(entries.map((e) => [e.key, e.value]));
}

/** The path after `mlflow/logged-models/`: the model's id and what follows it. */
function modelPath(path: string): { modelId: string; rest: string[] } {
  const [modelId = "", ...rest] = path.slice("mlflow/logged-models/".length).split("/").map(pathPart);
  if (!modelId) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'model_id'.");
  return { modelId, rest };
}

/** GET `{model_id}`, or `{model_id}/artifacts/directories` (its files under `artifact_directory_path`). */
async function getModelOrFiles(deps: TrackingDeps, { project, path, fields }: MlflowCall): Promise<Json> {
  const { modelId, rest } = modelPath(path);
  const model = await loggedModelById(deps, project, modelId);
  if (!rest.length) return { model: loggedModelJson(model) };
  if (rest.join("/") !== "artifacts/directories") throw notFound("ENDPOINT_NOT_FOUND", `no GET ${path}`);
  const files = entriesFromRoot(new Map(Object.entries(model.files)), optionalText(fields, "artifact_directory_path") ?? "");
  return { root_uri: modelArtifactUri(experimentIdOf(model.experiment), modelId), ...(files.length ? { files: files as unknown as Json } : {}) };
}

async function finalizeOrTag(deps: TrackingDeps, { project, path, fields }: MlflowCall): Promise<Json> {
  const { modelId, rest } = modelPath(path);
  if (rest.join("/") === "tags") {
    const tags = checkedEntries(fields, "tags");
    const model = await changeLoggedModel(deps, project, modelId, (m) => ({ ...m, tags: { ...m.tags, ...tags } }));
    return { model: loggedModelJson(model) };
  }
  if (rest.length) throw notFound("ENDPOINT_NOT_FOUND", `no PATCH ${path}`);
  const status = STATUSES[String(fields.status ?? "")];
  if (!status) throw invalidArgument("INVALID_STATUS", `status is LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED, not ${JSON.stringify(fields.status ?? null)}`);
  const model = await changeLoggedModel(deps, project, modelId, (m) => ({ ...m, status }));
  return { model: loggedModelJson(model) };
}

async function removeModelOrTag(deps: TrackingDeps, { project, path }: MlflowCall): Promise<Json> {
  const { modelId, rest } = modelPath(path);
  if (rest[0] === "tags" && rest.length === 2) {
    const key = rest[1]!;
    await changeLoggedModel(deps, project, modelId, (m) => {
      if (m.tags[key] === undefined) throw notFound("TAG_NOT_FOUND", `No tag with key '${key}' on logged model ${modelId}`);
      const tags = { ...m.tags };
      delete tags[key];
      return { ...m, tags };
    });
    return {};
  }
  if (rest.length) throw notFound("ENDPOINT_NOT_FOUND", `no DELETE ${path}`);
  const model = await loggedModelById(deps, project, modelId);
  await collections(deps).loggedModels.delete(modelKey(project, modelId));
  const garbage = trackingGarbage(deps);
  await garbage.mark(loggedModelFiles(model));
  return {};
}

async function logParams(deps: TrackingDeps, { project, path, fields }: MlflowCall): Promise<Json> {
  const { modelId, rest } = modelPath(path);
  if (rest.join("/") !== "params") throw notFound("ENDPOINT_NOT_FOUND", `no POST ${path}`);
  const params = checkedEntries(fields, "params");
  await changeLoggedModel(deps, project, modelId, (m) => ({ ...m, params: { ...m.params, ...params } }));
  return {};
}

function lookupOf(m: LoggedModelRecord): Lookup {
  return (kind, key) => {
    if (kind === "param") return m.params[key];
    if (kind === "tag") return m.tags[key];
    if (kind === "metric") return m.metrics.filter((p) => p.key === key).at(-1)?.value;
    switch (key) {
      case "name":
        return m.name;
      case "model_id":
        return m.modelId;
      case "status":
        return STATUS_IN_FILTERS[m.status]; // as MLflow's client names it: READY, PENDING, FAILED
      case "source_run_id":
        return m.sourceRunId || undefined;
      case "model_type":
        return m.modelType || undefined;
      case "creation_timestamp":
        return Date.parse(m.createTime);
      case "last_updated_timestamp":
        return Date.parse(m.updateTime);
    }
    return undefined;
  };
}

const NEWEST_FIRST: OrderKey[] = [
  { kind: "attribute", key: "creation_timestamp", descending: true },
  { kind: "attribute", key: "model_id", descending: false },
];

/** `order_by` entries as MLflow's logged-model search sends them: `{field_name, ascending}`. */
function orderOf(entries: Json[]): OrderKey[] {
  return entries.map((e) => {
    if (typeof e !== "object" || e === null || Array.isArray(e)) throw invalidArgument("INVALID_ORDER_BY", "order_by entries are objects {field_name, ascending}");
    const field = requiredText(e, "field_name");
    const dot = field.indexOf(".");
    const kind = dot < 0 ? "attribute" : ({ metrics: "metric", params: "param", tags: "tag" } as const)[field.slice(0, dot) as "metrics" | "params" | "tags"];
    if (!kind) throw invalidArgument("INVALID_ORDER_BY", `order_by field_name "${field}" is an attribute, metrics.*, params.* or tags.*`);
    const key = dot < 0 ? (field === "creation_time" ? "creation_timestamp" : field) : field.slice(dot + 1);
    return { kind, key, descending: e.ascending === false };
  });
}

async function search(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const filter = parseSearchFilter(optionalText(fields, "filter") ?? "", "models");
  const experiments = new Set<string>();
  for (const id of listOf(fields, "experiment_ids").map(String)) {
    const e = await experimentById(deps, project, id).catch((err: unknown) => {
      if (isKilnError(err, Code.NotFound)) return undefined;
      throw err;
    });
    if (e) experiments.add(e.name);
  }
  const all = (await collections(deps).loggedModels.list({ prefix: `${project}/` })).map((r) => r.value);
  const found = all.filter((m) => experiments.has(m.experiment) && matchesAll(filter, lookupOf(m)));
  sortBy(found, [...orderOf(listOf(fields, "order_by")), ...NEWEST_FIRST], lookupOf);
  const page = pageOf(found, optionalInteger(fields, "max_results") ?? 50, optionalText(fields, "page_token"));
  return { models: page.items.map(loggedModelJson), ...(page.next ? { next_page_token: page.next } : {}) };
}

/** Metric points logged with a model_id (MLflow 3 logs a run's metrics again so, when it logs a model): the model keeps them. */
export async function linkMetrics(deps: TrackingDeps, project: string, runId: string, points: readonly { key: string; value: number; timestamp: number; step: number; modelId: string }[]): Promise<void> {
  const byModel = new Map<string, typeof points>();
  for (const p of points) byModel.set(p.modelId, [...(byModel.get(p.modelId) ?? []), p]);
  for (const [modelId, linked] of byModel) {
    await changeLoggedModel(deps, project, modelId, (m) => {
      const pointKey = (p: LoggedModelRecord["metrics"][number]) => JSON.stringify([p.key, p.step, p.timestamp, String(p.value), p.runId]);
      const seen = new Set(m.metrics.map(pointKey));
      const added = linked.map((p) => ({ key: p.key, value: p.value, timestamp: p.timestamp, step: p.step, runId })).filter((p) => !seen.has(pointKey(p)));
      return { ...m, metrics: [...m.metrics, ...added] };
    });
  }
}

export function loggedModelEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "POST mlflow/logged-models": { method: "POST", role: "write", answer: (c) => create(deps, c) },
    "mlflow/logged-models/search": { method: "POST", role: "read", answer: (c) => search(deps, c) },
    "GET mlflow/logged-models/*": { method: "GET", role: "read", answer: (c) => getModelOrFiles(deps, c) },
    "PATCH mlflow/logged-models/*": { method: "PATCH", role: "write", answer: (c) => finalizeOrTag(deps, c) },
    "DELETE mlflow/logged-models/*": { method: "DELETE", role: "write", answer: (c) => removeModelOrTag(deps, c) },
    "POST mlflow/logged-models/*": { method: "POST", role: "write", answer: (c) => logParams(deps, c) },
  };
}
