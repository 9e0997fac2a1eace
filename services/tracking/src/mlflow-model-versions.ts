import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { httpCallerOf, invalidArgument, isKilnError, notFound, type Json } from "@kiln/core";
import type { Model, ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "./deps.js";
import { keyValues, listOf, optionalInteger, optionalText, requiredText, checkTag as checkMlflowTag, MLFLOW_REGISTRY_TAG_VALUE_CHARS, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { loggedModelById, modelArtifactUri } from "./mlflow-logged-models.js";
import { LOGGED_MODEL_URI, modelSource } from "./mlflow-model-source.js";
import { copyModelVersion, storeModelVersion } from "./mlflow-model-upload.js";
import { allModels, changeState, findModel, fromRegistry, latestPerStage, searchedTag, MLFLOW_STATE_KEY, mlflowNameOfModel, modelByName, modelVersionJson, runIdOfVersion, stageOf, stateOf, STAGES, versionsOf, versionTags, type MlflowVersionState } from "./mlflow-registry.js";
import { isPromptVersion, storePromptVersion } from "./mlflow-prompts.js";
import { runById } from "./mlflow-runs.js";
import { matchesAll, pageOf, parseOrder, parseSearchFilter, sortBy, type Lookup, type OrderKey } from "./mlflow-search.js";
import { runName } from "./names.js";

const DEFAULT_MAX_RESULTS = 10_000;

/** MLflow's stage names, whatever their case. */
export function canonicalStage(stage: string): string {
  const found = STAGES.find((s) => s.toLowerCase() === stage.toLowerCase());
  if (!found) throw invalidArgument("INVALID_STAGE", `Invalid Model Version stage: ${stage}. Value must be one of ${STAGES.join(", ")}.`);
  return found;
}

/** The version a request's `version` field names (a number, as MLflow sends it as text). */
export async function versionOf(deps: TrackingDeps, model: Model, fields: Record<string, Json>): Promise<ModelVersion> {
  const version = requiredText(fields, "version");
  if (!/^\d{1,18}$/.test(version)) throw invalidArgument("INVALID_VERSION", `Model version must be an integer, got '${version.slice(0, 40)}'`);
  try {
    return (await fromRegistry(deps.registry.getModelVersion({ name: `${model.name}/versions/${Number(version)}` }))).version!;
  } catch (e) {
    if (isKilnError(e, Code.NotFound)) throw notFound("MODEL_VERSION_NOT_FOUND", `Model Version (name=${mlflowNameOfModel(model)}, version=${version}) not found`);
    throw e;
  }
}

async function modelAndVersion(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<{ model: Model; version: ModelVersion }> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  return { model, version: await versionOf(deps, model, fields) };
}

function checkTag(key: string, value: string): void {
  checkMlflowTag(key, value, "a model version", { key: MLFLOW_STATE_KEY, holds: "what Kiln keeps of MLflow's version (its source, stage and status)" }, MLFLOW_REGISTRY_TAG_VALUE_CHARS);
}

/**
 * Registers the model at `source` as the next version: its files are copied into Kiln's
 * registry, so Kiln serves an ONNX one and keeps any other, whatever becomes of the run.
 * A registered version as the source (MLflow's copy_model_version) is copied whole; a
 * prompt's version (MLflow 3's prompt registry) keeps its template.
 */
async function create(deps: TrackingDeps, { project, fields, req }: MlflowCall): Promise<Json> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  const sourceText = requiredText(fields, "source");
  const tags = keyValues(fields, "tags");
  for (const t of tags) checkTag(t.key, t.value);
  const prompt = isPromptVersion(tags);
  const registered = prompt ? undefined : await registeredVersionOf(deps, project, sourceText);
  const files = prompt || registered ? undefined : await modelSource(deps, project, sourceText);
  const runId = optionalText(fields, "run_id") ?? (registered ? runIdOfVersion(registered.version) : files?.runId);
  const run = runId ? await runById(deps, project, runId) : undefined;
  const runLink = optionalText(fields, "run_link");
  const state: MlflowVersionState = { source: sourceText, ...(runId && { run_id: runId }), ...(runLink && { run_link: runLink }), stage: "None", status: "READY" };
  const v = {
    model: model.name,
    comment: optionalText(fields, "description") ?? "",
    metadata: { ...Object.fromEntries(tags.map((t) => [t.key, t.value])), [MLFLOW_STATE_KEY]: { ...state } },
    ...(run && { run: runName(run.run.experiment, run.run.run) }),
    author: httpCallerOf(req),
  };
  const version = prompt ? await storePromptVersion(deps, v) : registered ? await copyModelVersion(deps, registered.version, v) : await storeModelVersion(deps, files!, v);
  return { model_version: modelVersionJson(model, version) };
}

/**
 * The registered version a `models:/` URI names: `models:/{name}/{version}`, `/{stage}`,
 * `/latest` or `models:/{name}@{alias}`. Undefined for any other source, a logged
 * model's `models:/m-…` among them.
 */
async function registeredVersionOf(deps: TrackingDeps, project: string, uri: string): Promise<{ model: Model; version: ModelVersion } | undefined> {
  if (LOGGED_MODEL_URI.test(uri)) return undefined;
  const m = /^models:\/+([^/@]+)(?:\/([^/]+)|@([^/]+))\/?$/.exec(uri);
  if (!m) return undefined;
  const model = await modelByName(deps, project, m[1]!);
  const [, , ref, alias] = m;
  const none = (what: string) => notFound("MODEL_VERSION_NOT_FOUND", `Registered model ${m[1]} has no ${what}`);
  if (alias !== undefined) {
    const number = model.tags[alias];
    if (number === undefined) throw none(`alias ${alias}`);
    return { model, version: await versionOf(deps, model, { version: String(number) }) };
  }
  if (/^\d+$/.test(ref!)) return { model, version: await versionOf(deps, model, { version: ref! }) };
  // The newest version, or the newest in a stage: read from the list, not fetched again.
  const versions = await versionsOf(deps, model);
  const latest = ref!.toLowerCase() === "latest";
  const stage = latest ? undefined : canonicalStage(ref!);
  const version = stage === undefined ? versions[0] : latestPerStage(versions, [stage])[0];
  if (!version) throw none(stage === undefined ? "version" : `version in stage ${stage}`);
  return { model, version };
}

/** Moves a version to a stage; with archive_existing_versions, the others in that stage go to Archived. */
async function transitionStage(deps: TrackingDeps, call: MlflowCall): Promise<Json> {
  const { model, version } = await modelAndVersion(deps, call);
  const stage = canonicalStage(requiredText(call.fields, "stage"));
  const archiveOthers = call.fields.archive_existing_versions === true || call.fields.archive_existing_versions === "true";
  if (archiveOthers && (stage === "Staging" || stage === "Production")) {
    for (const other of await versionsOf(deps, model)) if (other.version !== version.version && stageOf(other) === stage) await changeState(deps, other, { stage: "Archived" });
  }
  return { model_version: modelVersionJson(model, await changeState(deps, version, { stage })) };
}

async function setTag(deps: TrackingDeps, call: MlflowCall, remove: boolean): Promise<Json> {
  const { version } = await modelAndVersion(deps, call);
  const key = requiredText(call.fields, "key");
  const value = remove ? "" : (optionalText(call.fields, "value") ?? "");
  checkTag(key, value);
  await fromRegistry(deps.registry.updateModelVersion({ name: version.name, metadata: remove ? {} : { [key]: value }, updateMask: { paths: [`metadata.${key}`] } }));
  return {};
}

/**
 * Where MLflow's clients download a version from: its source, as MLflow's own server
 * answers (a logged model's id as that model's artifact URI).
 */
async function downloadUri(deps: TrackingDeps, call: MlflowCall): Promise<Json> {
  const { model, version } = await modelAndVersion(deps, call);
  const source = stateOf(version).source;
  if (!source) {
    throw invalidArgument("NOT_FROM_MLFLOW", `version ${version.version} of ${mlflowNameOfModel(model)} was stored through Kiln's API, not registered from MLflow artifacts: download it with Kiln (kiln models:download ${mlflowNameOfModel(model)}:${version.version})`);
  }
  const logged = LOGGED_MODEL_URI.exec(source);
  if (logged) {
    const m = await loggedModelById(deps, call.project, logged[1]!);
    return { artifact_uri: modelArtifactUri(experimentIdOf(m.experiment), m.modelId) + (logged[2] ? `/${logged[2]}` : "") };
  }
  return { artifact_uri: source };
}

function lookupOf(model: Model, v: ModelVersion): Lookup {
  const tags = new Map(versionTags(v));
  return (kind, key) => {
    if (kind === "tag") return searchedTag(tags, key);
    switch (key) {
      case "name":
        return mlflowNameOfModel(model);
      case "run_id":
        return runIdOfVersion(v) ?? "";
      case "source_path":
        return stateOf(v).source ?? "";
      case "current_stage":
        return stageOf(v);
      case "user_id":
        return v.author;
      case "version_number":
        return Number(v.version);
      case "creation_timestamp":
        return v.createTime && timestampMs(v.createTime);
      case "last_updated_timestamp":
        return v.updateTime && timestampMs(v.updateTime);
    }
    return undefined;
  };
}

const DEFAULT_ORDER: OrderKey[] = [
  { kind: "attribute", key: "name", descending: false },
  { kind: "attribute", key: "version_number", descending: true },
];

async function search(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const filter = parseSearchFilter(optionalText(fields, "filter") ?? "", "model_versions");
  const order = parseOrder(listOf(fields, "order_by"), "model_versions");
  // `name = '…'`, as MLflow's clients ask for one model's versions, reads that model only.
  const named = filter.find((c) => c.kind === "attribute" && c.key === "name" && c.op === "=");
  const models = named ? [await findModel(deps, project, String(named.value))].filter((m) => m !== undefined) : await allModels(deps, project);
  // Each version's lookup made once: the sort reads it at every comparison.
  const found: { model: Model; version: ModelVersion; lookup: Lookup }[] = [];
  for (const model of models) {
    for (const version of await versionsOf(deps, model)) {
      const lookup = lookupOf(model, version);
      if (matchesAll(filter, lookup)) found.push({ model, version, lookup });
    }
  }
  sortBy(found, [...order, ...DEFAULT_ORDER], (f) => f.lookup);
  const page = pageOf(found, optionalInteger(fields, "max_results") ?? DEFAULT_MAX_RESULTS, optionalText(fields, "page_token"));
  return { model_versions: page.items.map((f) => modelVersionJson(f.model, f.version)), ...(page.next ? { next_page_token: page.next } : {}) };
}

export function modelVersionEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "mlflow/model-versions/create": { method: "POST", role: "write", answer: (c) => create(deps, c) },
    "mlflow/model-versions/get": {
      method: "GET",
      role: "read",
      async answer(c) {
        const { model, version } = await modelAndVersion(deps, c);
        return { model_version: modelVersionJson(model, version) };
      },
    },
    "mlflow/model-versions/update": {
      method: "PATCH",
      role: "write",
      async answer(c) {
        const { model, version } = await modelAndVersion(deps, c);
        const { version: changed } = await fromRegistry(deps.registry.updateModelVersion({ name: version.name, comment: optionalText(c.fields, "description") ?? "", updateMask: { paths: ["comment"] } }));
        return { model_version: modelVersionJson(model, changed!) };
      },
    },
    "mlflow/model-versions/delete": {
      method: "DELETE",
      role: "admin",
      async answer(c) {
        const { version } = await modelAndVersion(deps, c);
        await fromRegistry(deps.registry.deleteModelVersion({ name: version.name }));
        return {};
      },
    },
    "mlflow/model-versions/search": { method: "GET", role: "read", answer: (c) => search(deps, c) },
    "mlflow/model-versions/get-download-uri": { method: "GET", role: "read", answer: (c) => downloadUri(deps, c) },
    "mlflow/model-versions/transition-stage": { method: "POST", role: "write", answer: (c) => transitionStage(deps, c) },
    "mlflow/model-versions/set-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, false) },
    "mlflow/model-versions/delete-tag": { method: "DELETE", role: "write", answer: (c) => setTag(deps, c, true) },
  };
}
