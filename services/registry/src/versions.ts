import { Code } from "@connectrpc/connect";
import { aborted, isKilnError, notFound, versionKey, versionPrefix } from "@kiln/core";
import type { Collection } from "@kiln/storage";
import type { RegistryDeps } from "./deps.js";
import type { VersionRef } from "./names.js";
import { MODELS, VERSIONS, type ModelRecord, type VersionRecord } from "./records.js";

const MAX_ATTEMPTS = 500;

export function collections(deps: Pick<RegistryDeps, "metadata">) {
  return {
    models: deps.metadata.collection<ModelRecord>(MODELS),
    versions: deps.metadata.collection<VersionRecord>(VERSIONS),
  };
}

export async function getModel(deps: Pick<RegistryDeps, "metadata">, name: string): Promise<{ record: ModelRecord; rev: number }> {
  const found = await collections(deps).models.get(name);
  if (!found) throw notFound("MODEL_NOT_FOUND", `model ${name} not found`, { model: name });
  return { record: found.value, rev: found.rev };
}

export async function latestVersion(versions: Collection<VersionRecord>, model: string): Promise<VersionRecord | undefined> {
  return (await latestEntry(versions, model))?.value;
}

/** Resolves a number, tag or "latest" to the version record (NotFound with a reason otherwise). */
export async function resolveVersion(
  deps: Pick<RegistryDeps, "metadata">,
  model: string,
  ref: VersionRef,
): Promise<{ model: ModelRecord; version: VersionRecord; rev: number }> {
  const { record } = await getModel(deps, model);
  const { versions } = collections(deps);
  let number: number | undefined;
  if (ref.kind === "number") number = ref.version;
  else if (ref.kind === "tag") {
    number = record.tags[ref.tag];
    if (number === undefined) throw notFound("TAG_NOT_FOUND", `model ${model} has no tag "${ref.tag}"`, { model, tag: ref.tag });
  }
  const found = number === undefined ? await latestEntry(versions, model) : await versions.get(versionKey(model, number));
  if (!found) {
    const which = ref.kind === "latest" ? "no version yet" : `no version ${number}`;
    throw notFound("VERSION_NOT_FOUND", `model ${model} has ${which}`, { model, version: String(number ?? "latest") });
  }
  return { model: record, version: found.value, rev: found.rev };
}

async function latestEntry(versions: Collection<VersionRecord>, model: string) {
  const [row] = await versions.list({ prefix: versionPrefix(model), reverse: true, limit: 1 });
  return row ? { value: row.value, rev: row.rev } : undefined;
}

/**
 * Makes the next version. Numbers come from create-if-absent on the version key: of
 * two uploads racing for n, one wins and the other takes n+1, so numbers are gap-free
 * and never reused while the repository exists. A deleted version's number stays taken
 * (the model's lastNumber): the newest version is read before the model, and a delete
 * records the number in the model before it removes the version, so one of the two
 * reads sees it.
 */
export async function createNextVersion(deps: RegistryDeps, model: string, build: (version: number) => VersionRecord): Promise<VersionRecord> {
  const { versions } = collections(deps);
  const newest = (await latestVersion(versions, model))?.version ?? 0;
  let next = Math.max(newest, (await collections(deps).models.get(model))?.value.lastNumber ?? 0) + 1;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++, next++) {
    const record = build(next);
    try {
      await versions.create(versionKey(model, next), record);
      return record;
    } catch (e) {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
    }
  }
  throw aborted("UPLOAD_CONTENTION", `too many concurrent uploads to ${model}; try again`);
}

/** Applies a change to the model record with optimistic concurrency (retried on conflict). */
export async function updateModel(deps: RegistryDeps, name: string, change: (m: ModelRecord) => ModelRecord): Promise<ModelRecord> {
  const { models } = collections(deps);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const { record, rev } = await getModel(deps, name);
    const next = change(structuredClone(record));
    try {
      await models.update(name, next, rev);
      return next;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
  throw aborted("MODEL_CONTENTION", `too many concurrent changes to ${name}; try again`);
}

/** Applies a change to a version record with optimistic concurrency. */
export async function updateVersion(
  deps: RegistryDeps,
  model: string,
  ref: VersionRef,
  change: (v: VersionRecord) => VersionRecord,
): Promise<{ model: ModelRecord; version: VersionRecord; previous: VersionRecord }> {
  const { versions } = collections(deps);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await resolveVersion(deps, model, ref);
    const next = change(structuredClone(found.version));
    try {
      await versions.update(versionKey(model, found.version.version), next, found.rev);
      return { model: found.model, version: next, previous: found.version };
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
  throw aborted("VERSION_CONTENTION", `too many concurrent changes to ${model}; try again`);
}
