import { notFound } from "@kiln/core";
import type { RegistryDeps } from "./deps.js";
import { publishRegistryEvent } from "./events.js";
import type { ModelRecord } from "./records.js";
import { updateModel } from "./versions.js";

/** Points each tag at `version` in one model update, then announces each tag that moved. */
export async function moveTags(deps: RegistryDeps, model: string, tags: string[], version: number): Promise<ModelRecord> {
  const now = deps.now ?? (() => new Date());
  let before: Record<string, number> = {};
  const updated = await updateModel(deps, model, (m) => {
    before = { ...m.tags };
    for (const t of tags) m.tags[t] = version;
    m.updateTime = now().toISOString();
    return m;
  });
  for (const tag of tags) {
    if (before[tag] === version) continue;
    await publishRegistryEvent(deps.bus, "tag.moved", { model, tag, previousVersion: before[tag] ?? 0, tagVersion: version }, now());
  }
  return updated;
}

export async function removeTag(deps: RegistryDeps, model: string, tag: string): Promise<ModelRecord> {
  const now = deps.now ?? (() => new Date());
  let previous = 0;
  const updated = await updateModel(deps, model, (m) => {
    if (m.tags[tag] === undefined) throw notFound("TAG_NOT_FOUND", `model ${model} has no tag "${tag}"`, { model, tag });
    previous = m.tags[tag];
    delete m.tags[tag];
    m.updateTime = now().toISOString();
    return m;
  });
  await publishRegistryEvent(deps.bus, "tag.moved", { model, tag, previousVersion: previous, tagVersion: 0 }, now());
  return updated;
}
