import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { aborted, checkId, failedPrecondition, invalidArgument, isKilnError, printable, versionKey } from "@kiln/core";
import type { ModelVersion, ModelVersionHold } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { RegistryDeps } from "./deps.js";
import { parseVersionName } from "./names.js";
import { collections } from "./versions.js";

/**
 * A holder's holds, one document per holder (keyed by its name), so that setting them is
 * one compare-and-set: what a delete checks can never drift from what was set.
 */
interface HoldRecord {
  /** projects/{p}/models/{m}/versions/{number} */
  versions: string[];
  setTime: string;
}

const HOLDS = "registry_version_holds";
const MAX_HOLDERS = 1_000;
const MAX_VERSIONS_PER_HOLDER = 100;
const MAX_ATTEMPTS = 100;
const HOLDER = /^projects\/([^/]+)\/([a-z][a-z_]*)\/[^/]+$/s;

function holds(deps: Pick<RegistryDeps, "metadata">) {
  return deps.metadata.collection<HoldRecord>(HOLDS);
}

/** Sets each holder's versions (exactly those afterwards); answers the versions that do not exist, which are not held. */
export async function setHolds(deps: RegistryDeps, given: ModelVersionHold[], at: Date): Promise<string[]> {
  if (given.length > MAX_HOLDERS) throw invalidArgument("TOO_MANY_HOLDS", `at most ${MAX_HOLDERS} holders at once, got ${given.length}`);
  const checked = given.map(checkHold);
  const missing: string[] = [];
  for (const { holder, versions } of checked) {
    const found = await collections(deps).versions.getMany(versions.map((v) => v.key));
    missing.push(...versions.filter((_, i) => !found[i]).map((v) => v.name));
    const held = versions.filter((_, i) => found[i]).map((v) => v.name);
    await setHolderVersions(deps, holder, held.sort(), at);
  }
  return missing;
}

/** Drops the holds of the collection's holders (in every project) that are not kept and were set before `setBefore`; answers those released. */
export async function releaseHolds(deps: RegistryDeps, collection: string, keep: string[], setBefore: Timestamp | undefined): Promise<string[]> {
  if (!/^[a-z][a-z_]*$/.test(collection)) throw invalidArgument("INVALID_HOLDER_COLLECTION", `holder_collection "${printable(collection)}" must be a collection's name, e.g. "deployments"`);
  if (!setBefore) throw invalidArgument("SET_BEFORE_REQUIRED", "set_before is required: holds set since the caller listed what to keep must stay");
  const before = timestampDate(setBefore).getTime();
  const kept = new Set(keep);
  const released: string[] = [];
  for (const row of await holds(deps).list({ prefix: "projects/" })) {
    if (HOLDER.exec(row.key)?.[2] !== collection || kept.has(row.key) || Date.parse(row.value.setTime) >= before) continue;
    if (await holds(deps).delete(row.key, row.rev)) released.push(row.key);
  }
  return released;
}

/** Every version held in `project` (projects/{p}/models/{m}/versions/{n}), with its holders. */
export async function holdersOf(deps: Pick<RegistryDeps, "metadata">, project: string): Promise<Map<string, string[]>> {
  const byVersion = new Map<string, string[]>();
  for (const row of await holds(deps).list({ prefix: `${project}/` })) {
    for (const version of row.value.versions) byVersion.set(version, [...(byVersion.get(version) ?? []), row.key]);
  }
  return byVersion;
}

/** Fills each version's holders (versions of one project, as Get and List answer them). */
export async function withHolders(deps: Pick<RegistryDeps, "metadata">, versions: ModelVersion[]): Promise<ModelVersion[]> {
  if (!versions.length) return versions;
  const held = await holdersOf(deps, projectOf(versions[0].name));
  for (const version of versions) version.holders = held.get(version.name) ?? [];
  return versions;
}

/** FailedPrecondition VERSION_IN_USE if anything holds the version. */
export async function checkVersionNotHeld(deps: RegistryDeps, model: string, number: number): Promise<void> {
  const version = `${model}/versions/${number}`;
  const holders = (await holdersOf(deps, projectOf(model))).get(version) ?? [];
  if (holders.length) {
    throw failedPrecondition("VERSION_IN_USE", `${version} is in use by ${holders.join(", ")}: deploy another version there, or delete what holds it, first`, { version, holders: holders.join(",") });
  }
}

/** FailedPrecondition MODEL_IN_USE if anything holds one of the model's versions. */
export async function checkModelNotHeld(deps: RegistryDeps, model: string): Promise<void> {
  const held = [...(await holdersOf(deps, projectOf(model)))].filter(([version]) => version.startsWith(`${model}/versions/`));
  if (held.length) {
    const holders = [...new Set(held.flatMap(([, by]) => by))].sort();
    const versions = held.map(([version]) => version).sort();
    throw failedPrecondition("MODEL_IN_USE", `${model} is in use: ${versions.join(", ")} held by ${holders.join(", ")}; deploy another model there, or delete what holds it, first`, {
      model,
      holders: holders.join(","),
    });
  }
}

function projectOf(model: string): string {
  return model.slice(0, model.indexOf("/models/"));
}

/** The hold checked, each version with its name as holds keep it and its record's key. */
function checkHold(hold: ModelVersionHold): { holder: string; versions: { name: string; key: string }[] } {
  const m = HOLDER.exec(hold.holder);
  if (!m) throw invalidArgument("INVALID_HOLDER", `invalid holder "${printable(hold.holder)}": expected a resource's full name, projects/{p}/{collection}/{id}`);
  checkId(m[1], "project");
  if (hold.versions.length > MAX_VERSIONS_PER_HOLDER) throw invalidArgument("TOO_MANY_HOLDS", `a holder holds at most ${MAX_VERSIONS_PER_HOLDER} versions, ${hold.holder} asked for ${hold.versions.length}`);
  const versions = hold.versions.map((name) => {
    const { model, ref } = parseVersionName(name);
    if (ref.kind !== "number") throw invalidArgument("VERSION_NUMBER_REQUIRED", `a hold names a version by its number, not "${printable(name)}": a tag moves`);
    if (model.project !== m[1]) throw invalidArgument("CROSS_PROJECT", `${hold.holder} cannot hold ${name}: it is in another project`);
    return { name: `${model.name}/versions/${ref.version}`, key: versionKey(model.name, ref.version) };
  });
  const unique = new Map(versions.map((v) => [v.name, v]));
  return { holder: hold.holder, versions: [...unique.values()] };
}

async function setHolderVersions(deps: RegistryDeps, holder: string, versions: string[], at: Date): Promise<void> {
  const collection = holds(deps);
  const value: HoldRecord = { versions, setTime: at.toISOString() };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const found = await collection.get(holder);
    try {
      if (!versions.length) {
        if (!found || (await collection.delete(holder, found.rev))) return;
        continue;
      }
      if (found) await collection.update(holder, value, found.rev);
      else await collection.create(holder, value);
      return;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted) && !isKilnError(e, Code.AlreadyExists) && !isKilnError(e, Code.NotFound)) throw e;
    }
  }
  throw aborted("HOLD_CONTENTION", `too many concurrent changes to the holds of ${holder}; try again`);
}
