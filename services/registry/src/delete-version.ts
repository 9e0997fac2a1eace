import { notFound, versionKey } from "@kiln/core";
import type { RegistryDeps } from "./deps.js";
import { publishRegistryEvent } from "./events.js";
import { registryGarbage } from "./garbage.js";
import { checkVersionNotHeld } from "./holds.js";
import { blobsOf, versionToProto, type ModelRecord } from "./records.js";
import { collections, getModel, latestVersion, updateModel } from "./versions.js";

/**
 * Deletes version `number` of the model: its record goes, the tags naming it go (each
 * announced as moved to 0), the model's latest version is the newest left, and its file's
 * and attachments' blobs are collected once nothing else uses them. Refused while held.
 */
export async function deleteModelVersion(deps: RegistryDeps, model: string, number: number, at: Date): Promise<ModelRecord> {
  await getModel(deps, model); // MODEL_NOT_FOUND before VERSION_NOT_FOUND
  const { versions } = collections(deps);
  const key = versionKey(model, number);
  const found = await versions.get(key);
  if (!found) throw notFound("VERSION_NOT_FOUND", `model ${model} has no version ${number}`, { model, version: String(number) });
  await checkVersionNotHeld(deps, model, number);
  // The number is taken for good before the version goes, so an upload meanwhile cannot be given it.
  await updateModel(deps, model, (m) => ({ ...m, lastNumber: Math.max(m.lastNumber ?? 0, m.latestVersion, number) }));
  if (!(await versions.delete(key))) throw notFound("VERSION_NOT_FOUND", `model ${model} has no version ${number}`, { model, version: String(number) });
  const newestLeft = (await latestVersion(versions, model))?.version ?? 0;
  let untagged: string[] = [];
  const updated = await updateModel(deps, model, (m) => {
    untagged = Object.keys(m.tags).filter((tag) => m.tags[tag] === number).sort();
    for (const tag of untagged) delete m.tags[tag];
    // An upload since may have made a newer version: the latest only moves back from this one.
    if (m.latestVersion === number) m.latestVersion = newestLeft;
    m.updateTime = at.toISOString();
    return m;
  });
  const garbage = registryGarbage(deps);
  await garbage.mark(blobsOf(found.value));
  await garbage.sweep();
  await publishRegistryEvent(deps.bus, "model_version.deleted", { model, version: versionToProto(found.value, {}) }, at);
  for (const tag of untagged) await publishRegistryEvent(deps.bus, "tag.moved", { model, tag, previousVersion: number, tagVersion: 0 }, at);
  return updated;
}
