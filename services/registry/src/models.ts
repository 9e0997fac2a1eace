import { Code } from "@connectrpc/connect";
import { alreadyExists, isKilnError, versionPrefix } from "@kiln/core";
import type { RegistryDeps } from "./deps.js";
import { publishRegistryEvent } from "./events.js";
import { registryGarbage } from "./garbage.js";
import { checkModelNotHeld } from "./holds.js";
import { blobsOf, newModelRecord, type ModelRecord } from "./records.js";
import { collections } from "./versions.js";

/** Creates the repository; AlreadyExists (MODEL_EXISTS) if the name is taken. */
export async function createModel(deps: RegistryDeps, name: string, description: string, labels: Record<string, string>, at: Date): Promise<ModelRecord> {
  const record = newModelRecord(name, description, labels, at);
  try {
    await collections(deps).models.create(name, record);
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("MODEL_EXISTS", `model ${name} already exists`, { model: name });
    throw e;
  }
  await publishRegistryEvent(deps.bus, "model.created", { model: name }, at);
  return record;
}

/** Creates the repository unless it exists (an upload with create_model). */
export async function ensureModel(deps: RegistryDeps, name: string, at: Date): Promise<void> {
  if (await collections(deps).models.get(name)) return;
  try {
    await createModel(deps, name, "", {}, at);
  } catch (e) {
    if (!isKilnError(e, Code.AlreadyExists)) throw e; // a concurrent upload created it
  }
}

/**
 * A real delete: versions, attachments and the repository go, the blobs nothing else
 * uses are collected after the grace period, and the name is free again. Refused while
 * one of its versions is held.
 */
export async function deleteModel(deps: RegistryDeps, name: string, at: Date): Promise<boolean> {
  const { models, versions } = collections(deps);
  if (!(await models.get(name))) return false;
  await checkModelNotHeld(deps, name);
  const dropped = (await versions.list({ prefix: versionPrefix(name) })).flatMap((v) => blobsOf(v.value));
  await versions.deletePrefix(versionPrefix(name));
  await models.delete(name);
  const garbage = registryGarbage(deps);
  await garbage.mark(dropped);
  await garbage.sweep();
  await publishRegistryEvent(deps.bus, "model.deleted", { model: name }, at);
  return true;
}
