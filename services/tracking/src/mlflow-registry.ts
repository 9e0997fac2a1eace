import { Code, ConnectError } from "@connectrpc/connect";
import type { JsonValue } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { allPages } from "@kiln/contracts";
import { errorReason, isId, KilnError, notFound, type Json } from "@kiln/core";
import type { Model, ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "./deps.js";
import { keyValueList } from "./mlflow-http.js";
import { idsForName, MLFLOW_NAME_LABEL, runIdOf } from "./mlflow-ids.js";
import { parseRunName } from "./names.js";

/**
 * How MLflow's model registry maps onto Kiln's. A registered model is a Kiln model: its
 * name is the model's id when that is a valid id, else a slug with a hash, the name then
 * kept in the label `mlflow.name` (which rename changes). Its tags are the model's other
 * labels, its aliases the model's tags. A model version is a Kiln version: its tags are
 * the version's metadata, but for the key `mlflow`, which holds what only MLflow has (the
 * source, the stage, the status). Its description is the version's comment.
 */
export const MLFLOW_STATE_KEY = "mlflow";

/** What a Kiln version keeps of MLflow's model version, in its metadata's `mlflow` object. */
export interface MlflowVersionState {
  source?: string;
  run_id?: string;
  run_link?: string;
  stage?: string;
  status?: string;
  status_message?: string;
}

export const STAGES = ["None", "Staging", "Production", "Archived"];

/**
 * MLflow 3 keeps prompts in the model registry, marked by this tag, and its clients search
 * models with `tags.\`mlflow.prompt.is_prompt\` != 'true'`: a model without the tag is no
 * prompt, so searches read the absent tag as "false" (as MLflow's own stores do).
 */
const IS_PROMPT_TAG = "mlflow.prompt.is_prompt";

export function searchedTag(tags: Record<string, string> | Map<string, string>, key: string): string | undefined {
  const value = tags instanceof Map ? tags.get(key) : tags[key];
  return value ?? (key === IS_PROMPT_TAG ? "false" : undefined);
}

/** Calls the registry: its refusals keep their code and message (a ConnectError's own would read as internal). */
export async function fromRegistry<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (e) {
    throw asKilnError(e);
  }
}

/** The same for a registry call that streams its answer. */
export async function* fromRegistryStream<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (e) {
    throw asKilnError(e);
  }
}

function asKilnError(e: unknown): unknown {
  return e instanceof ConnectError && e.code !== Code.Internal && e.code !== Code.Unknown ? new KilnError(e.code, errorReason(e) ?? "REGISTRY", e.rawMessage) : e;
}

export function modelIdOf(model: Model): string {
  return model.name.slice(model.name.lastIndexOf("/") + 1);
}

export function mlflowNameOfModel(model: Model): string {
  return model.labels[MLFLOW_NAME_LABEL] ?? modelIdOf(model);
}

export function modelNotFound(name: string) {
  return notFound("REGISTERED_MODEL_NOT_FOUND", `Registered Model with name=${name} not found`);
}

/** The Kiln model an MLflow name names in the project, or undefined. */
export async function findModel(deps: TrackingDeps, project: string, name: string): Promise<Model | undefined> {
  const direct = idsForModel(name).next().value!;
  const got = await fromRegistry(deps.registry.getModel({ name: `${project}/models/${direct}` })).catch((e: unknown) => {
    if (e instanceof KilnError && e.code === Code.NotFound) return undefined;
    throw e;
  });
  if (got?.model && mlflowNameOfModel(got.model) === name) return got.model;
  // A renamed model keeps its id: its name is its label.
  const labelled = await fromRegistry(deps.registry.listModels({ parent: project, filter: `labels.${MLFLOW_NAME_LABEL} = ${JSON.stringify(name)}`, pageSize: 2 }));
  return labelled.models.find((m) => mlflowNameOfModel(m) === name);
}

export async function modelByName(deps: TrackingDeps, project: string, name: string): Promise<Model> {
  const model = await findModel(deps, project, name);
  if (!model) throw modelNotFound(name);
  return model;
}

/** The ids a new registered model named `name` may take, best first (as an experiment's). */
export function idsForModel(name: string): Generator<string> {
  return idsForName(name, (n) => isId(n), "model");
}

/** Every model of the project. */
export function allModels(deps: TrackingDeps, project: string): Promise<Model[]> {
  return allPages(async (pageToken) => {
    const page = await fromRegistry(deps.registry.listModels({ parent: project, pageSize: 1000, pageToken }));
    return { items: page.models, nextPageToken: page.nextPageToken };
  });
}

/** Every version of a model, newest first. */
export function versionsOf(deps: TrackingDeps, model: Model): Promise<ModelVersion[]> {
  return allPages(async (pageToken) => {
    const page = await fromRegistry(deps.registry.listModelVersions({ parent: model.name, pageSize: 1000, pageToken }));
    return { items: page.versions, nextPageToken: page.nextPageToken };
  });
}

export function stateOf(v: ModelVersion): MlflowVersionState {
  const state = v.metadata?.[MLFLOW_STATE_KEY];
  return state && typeof state === "object" && !Array.isArray(state) ? (state as MlflowVersionState) : {};
}

export function stageOf(v: ModelVersion): string {
  return stateOf(v).stage ?? "None";
}

/** A version's MLflow tags: its metadata but for the `mlflow` key, values that are not text as their JSON. */
export function versionTags(v: ModelVersion): [string, string][] {
  return Object.entries(v.metadata ?? {})
    .filter(([key]) => key !== MLFLOW_STATE_KEY)
    .map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)]);
}

/** The MLflow run_id of a version: as registered, or the run of its lineage. */
export function runIdOfVersion(v: ModelVersion): string | undefined {
  const state = stateOf(v);
  if (state.run_id) return state.run_id;
  if (!v.lineage?.run) return undefined;
  const { experiment, run } = parseRunName(v.lineage.run);
  return runIdOf(experiment.slice(experiment.lastIndexOf("/") + 1), run);
}

export function aliasesOf(model: Model, version: bigint): string[] {
  return Object.entries(model.tags)
    .filter(([, v]) => v === version)
    .map(([tag]) => tag)
    .sort();
}

export function modelVersionJson(model: Model, v: ModelVersion): Json {
  const state = stateOf(v);
  const runId = runIdOfVersion(v);
  const created = v.createTime ? timestampMs(v.createTime) : 0;
  return {
    name: mlflowNameOfModel(model),
    version: String(v.version),
    creation_timestamp: created,
    last_updated_timestamp: v.updateTime ? timestampMs(v.updateTime) : created,
    user_id: v.author,
    current_stage: stageOf(v),
    description: v.comment,
    source: state.source ?? "",
    ...(runId && { run_id: runId }),
    status: state.status ?? "READY",
    ...(state.status_message && { status_message: state.status_message }),
    tags: keyValueList(versionTags(v)),
    ...(state.run_link && { run_link: state.run_link }),
    aliases: aliasesOf(model, v.version),
  };
}

/** Per stage, the newest version in it (MLflow's latest_versions), ordered by stage. */
export function latestPerStage(versions: readonly ModelVersion[], stages: readonly string[] = STAGES): ModelVersion[] {
  return stages.flatMap((stage) => {
    const newest = versions.filter((v) => stageOf(v) === stage).reduce<ModelVersion | undefined>((a, v) => (!a || v.version > a.version ? v : a), undefined);
    return newest ? [newest] : [];
  });
}

export function registeredModelJson(model: Model, versions: readonly ModelVersion[]): Json {
  const created = model.createTime ? timestampMs(model.createTime) : 0;
  return {
    name: mlflowNameOfModel(model),
    creation_timestamp: created,
    last_updated_timestamp: model.updateTime ? timestampMs(model.updateTime) : created,
    ...(model.description && { description: model.description }),
    latest_versions: latestPerStage(versions).map((v) => modelVersionJson(model, v)),
    tags: keyValueList(Object.entries(model.labels).filter(([key]) => key !== MLFLOW_NAME_LABEL)),
    aliases: Object.entries(model.tags)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([alias, version]) => ({ alias, version: String(version) })),
  };
}

/** Changes what a version keeps of MLflow's state (its stage, its status), the rest of its metadata as it is. */
export async function changeState(deps: TrackingDeps, v: ModelVersion, change: Partial<MlflowVersionState>): Promise<ModelVersion> {
  const state = { ...stateOf(v), ...change } as JsonValue;
  const { version } = await fromRegistry(deps.registry.updateModelVersion({ name: v.name, metadata: { [MLFLOW_STATE_KEY]: state }, updateMask: { paths: [`metadata.${MLFLOW_STATE_KEY}`] } }));
  return version!;
}
