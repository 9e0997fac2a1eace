import { Code } from "@connectrpc/connect";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { alreadyExists, invalidArgument, isKilnError, notFound, type Json } from "@kiln/core";
import type { Model } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "./deps.js";
import { keyValues, listOf, optionalInteger, optionalText, requiredText, checkTag as checkMlflowTag, MLFLOW_REGISTRY_TAG_VALUE_CHARS, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { createUnderFreeId, MLFLOW_NAME_LABEL } from "./mlflow-ids.js";
import { matchesAll, pageOf, parseOrder, parseSearchFilter, sortBy, type Lookup, type OrderKey } from "./mlflow-search.js";
import { allModels, findModel, fromRegistry, modelIdOf, searchedTag, idsForModel, latestPerStage, mlflowNameOfModel, modelByName, modelVersionJson, registeredModelJson, STAGES, versionsOf } from "./mlflow-registry.js";
import { canonicalStage, versionOf } from "./mlflow-model-versions.js";

const MAX_NAME_CHARS = 256;
const DEFAULT_MAX_RESULTS = 100;

function checkName(name: string): string {
  if (name.length > MAX_NAME_CHARS) throw invalidArgument("INVALID_NAME", `a registered model's name is at most ${MAX_NAME_CHARS} characters`);
  return name;
}

function checkTag(key: string, value: string): void {
  checkMlflowTag(key, value, "a registered model", { key: MLFLOW_NAME_LABEL, holds: "the registered model's name: rename it instead" }, MLFLOW_REGISTRY_TAG_VALUE_CHARS);
}

const taken = (name: string) => alreadyExists("REGISTERED_MODEL_EXISTS", `Registered Model (name=${name}) already exists.`);

async function create(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const name = checkName(requiredText(fields, "name"));
  const tags = keyValues(fields, "tags");
  for (const t of tags) checkTag(t.key, t.value);
  const description = optionalText(fields, "description") ?? "";
  const labels = Object.fromEntries(tags.map((t) => [t.key, t.value]));
  return createUnderFreeId(
    idsForModel(name),
    async (modelId) => {
      const { model } = await fromRegistry(deps.registry.createModel({ parent: project, modelId, description, labels: modelId === name ? labels : { ...labels, [MLFLOW_NAME_LABEL]: name } }));
      return { registered_model: registeredModelJson(model!, []) };
    },
    async () => (await findModel(deps, project, name)) !== undefined,
    () => taken(name),
  );
}

async function answerWith(deps: TrackingDeps, model: Model): Promise<Json> {
  return { registered_model: registeredModelJson(model, await versionsOf(deps, model)) };
}

async function changeLabels(deps: TrackingDeps, model: Model, change: (labels: Record<string, string>) => void): Promise<Model> {
  const labels = { ...model.labels };
  change(labels);
  const { model: changed } = await fromRegistry(deps.registry.updateModel({ model: { name: model.name, labels }, updateMask: { paths: ["labels"] } }));
  return changed!;
}

async function rename(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  const newName = checkName(requiredText(fields, "new_name"));
  const other = await findModel(deps, project, newName);
  if (other && other.name !== model.name) throw taken(newName);
  const id = modelIdOf(model);
  return answerWith(
    deps,
    await changeLabels(deps, model, (labels) => {
      if (newName === id) delete labels[MLFLOW_NAME_LABEL];
      else labels[MLFLOW_NAME_LABEL] = newName;
    }),
  );
}

async function update(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  const { model: changed } = await fromRegistry(deps.registry.updateModel({ model: { name: model.name, description: optionalText(fields, "description") ?? "" }, updateMask: { paths: ["description"] } }));
  return answerWith(deps, changed!);
}

async function setTag(deps: TrackingDeps, { project, fields }: MlflowCall, remove: boolean): Promise<Json> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  const key = requiredText(fields, "key");
  const value = remove ? "" : (optionalText(fields, "value") ?? "");
  checkTag(key, value);
  await changeLabels(deps, model, (labels) => {
    if (remove) delete labels[key];
    else labels[key] = value;
  });
  return {};
}

function lookupOf(model: Model): Lookup {
  return (kind, key) => {
    if (kind === "tag") return key === MLFLOW_NAME_LABEL ? undefined : searchedTag(model.labels, key);
    if (key === "name") return mlflowNameOfModel(model);
    if (key === "creation_timestamp") return model.createTime && timestampMs(model.createTime);
    if (key === "last_updated_timestamp") return model.updateTime && timestampMs(model.updateTime);
    return undefined;
  };
}

const BY_NAME: OrderKey[] = [{ kind: "attribute", key: "name", descending: false }];

async function search(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const filter = parseSearchFilter(optionalText(fields, "filter") ?? "", "registered_models");
  const order = parseOrder(listOf(fields, "order_by"), "registered_models");
  const found = (await allModels(deps, project)).filter((m) => matchesAll(filter, lookupOf(m)));
  sortBy(found, [...order, ...BY_NAME], lookupOf);
  const page = pageOf(found, optionalInteger(fields, "max_results") ?? DEFAULT_MAX_RESULTS, optionalText(fields, "page_token"));
  const models = await Promise.all(page.items.map(async (m) => registeredModelJson(m, await versionsOf(deps, m))));
  return { registered_models: models, ...(page.next ? { next_page_token: page.next } : {}) };
}

async function latestVersions(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const model = await modelByName(deps, project, requiredText(fields, "name"));
  const asked = listOf(fields, "stages").map((s) => canonicalStage(String(s)));
  const latest = latestPerStage(await versionsOf(deps, model), asked.length ? asked : STAGES);
  return { model_versions: latest.map((v) => modelVersionJson(model, v)) };
}

/** An alias is a Kiln tag: letters, digits, "_", "-", "."; not a number (a version) nor "latest". */
function aliasField(fields: Record<string, Json>): string {
  const alias = requiredText(fields, "alias");
  if (alias.toLowerCase() === "latest" || /^v?\d+$/i.test(alias)) throw invalidArgument("INVALID_ALIAS", `'${alias}' is reserved: an alias is not "latest", a number or v and a number`);
  return alias;
}

export function registeredModelEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "mlflow/registered-models/create": { method: "POST", role: "write", answer: (c) => create(deps, c) },
    "mlflow/registered-models/get": { method: "GET", role: "read", answer: async (c) => answerWith(deps, await modelByName(deps, c.project, requiredText(c.fields, "name"))) },
    "mlflow/registered-models/rename": { method: "POST", role: "write", answer: (c) => rename(deps, c) },
    "mlflow/registered-models/update": { method: "PATCH", role: "write", answer: (c) => update(deps, c) },
    "mlflow/registered-models/delete": {
      method: "DELETE",
      role: "admin",
      async answer({ project, fields }) {
        const model = await modelByName(deps, project, requiredText(fields, "name"));
        await fromRegistry(deps.registry.deleteModel({ name: model.name }));
        return {};
      },
    },
    "mlflow/registered-models/search": { method: "GET", role: "read", answer: (c) => search(deps, c) },
    "mlflow/registered-models/get-latest-versions": { method: ["POST", "GET"], role: "read", answer: (c) => latestVersions(deps, c) },
    "mlflow/registered-models/set-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, false) },
    "mlflow/registered-models/delete-tag": { method: "DELETE", role: "write", answer: (c) => setTag(deps, c, true) },
    "POST mlflow/registered-models/alias": {
      method: "POST",
      role: "write",
      async answer({ project, fields }) {
        const model = await modelByName(deps, project, requiredText(fields, "name"));
        const version = await versionOf(deps, model, fields);
        await fromRegistry(deps.registry.setTag({ name: version.name, tag: aliasField(fields) }));
        return {};
      },
    },
    "DELETE mlflow/registered-models/alias": {
      method: "DELETE",
      role: "write",
      async answer({ project, fields }) {
        const model = await modelByName(deps, project, requiredText(fields, "name"));
        // As MLflow's: an alias already gone (deleted, or gone with its version) is no error.
        await fromRegistry(deps.registry.deleteTag({ model: model.name, tag: aliasField(fields) })).catch((e: unknown) => {
          if (!(isKilnError(e, Code.NotFound) && e.reason === "TAG_NOT_FOUND")) throw e;
        });
        return {};
      },
    },
    "GET mlflow/registered-models/alias": {
      method: "GET",
      role: "read",
      async answer({ project, fields }) {
        const model = await modelByName(deps, project, requiredText(fields, "name"));
        // As MLflow 3's server: "latest" reads as the newest version (prompts:/name@latest).
        if (requiredText(fields, "alias").toLowerCase() === "latest") {
          if (!model.latestVersion) throw notFound("MODEL_VERSION_NOT_FOUND", `Latest version not found for model ${mlflowNameOfModel(model)}.`);
          return { model_version: modelVersionJson(model, await versionOf(deps, model, { version: String(model.latestVersion) })) };
        }
        const alias = aliasField(fields);
        const version = model.tags[alias];
        if (version === undefined) throw notFoundAlias(model, alias);
        const found = await versionOf(deps, model, { version: String(version) });
        return { model_version: modelVersionJson(model, found) };
      },
    },
  };
}

function notFoundAlias(model: Model, alias: string) {
  return notFound("ALIAS_NOT_FOUND", `Registered model ${mlflowNameOfModel(model)} has no alias ${alias}.`);
}
