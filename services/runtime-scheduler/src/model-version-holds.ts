import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import type { Schedule } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import type { Scheduler } from "./job-store.js";
import { sweepPace } from "./sweep-pace.js";
import { allSchedules } from "./schedules.js";

/** How often a scheduler sets every holder's holds again and releases those of holders gone. */
const SWEEP_EVERY_MS = 60_000;
/** Holds set this long before a sweep began are released if their holder is gone: more than schedulers' and registries' clocks differ. */
const CLOCK_MARGIN_MS = 60_000;
const BATCH = 1_000;
const due = sweepPace();

/** The versions a deployment keeps the registry from deleting: the one it serves and its canary's. */
export function deploymentHolds(d: Deployment): string[] {
  return [d.modelVersion, d.canaryModelVersion].filter((v) => v !== "");
}

/** The version a schedule's job names by its number (a tag or "latest" is resolved at each run, and holds none). */
export function scheduleHolds(s: Schedule): string[] {
  const model = s.job?.model ?? "";
  return /\/versions\/\d+$/.test(model) ? [model] : [];
}

/**
 * Sets the registry's holds of a holder (a deployment, a schedule) to the versions it names
 * as written (none once deleted). A registry away is logged, not failed on: the holder is
 * written, and the next sweep sets them.
 */
export async function syncHolds(s: Scheduler, holder: string, versions: string[]): Promise<void> {
  await setHolds(s, [{ holder, versions }]).catch((e: unknown) => {
    s.logger.warn({ err: e, holder }, "could not set the registry's holds of a model version's user; the next sweep sets them");
  });
}

/**
 * Every deployment's and schedule's holds set again, and those of deployments and
 * schedules gone released; at most every SWEEP_EVERY_MS per scheduler.
 */
export async function sweepHolds(s: Scheduler): Promise<void> {
  const now = due(s, SWEEP_EVERY_MS);
  if (now === undefined) return;
  const setBefore = timestampFromDate(new Date(now - CLOCK_MARGIN_MS));
  const holding = (holds: { holder: string; versions: string[] }[]) => holds.filter((h) => h.versions.length > 0);
  // A holder that holds nothing is left out of both: were a hold of its left over, it is released as a gone one's.
  const holders: [collection: string, holds: { holder: string; versions: string[] }[]][] = [
    ["deployments", holding((await s.deployments.get()).map((d) => ({ holder: d.name, versions: deploymentHolds(d) })))],
    ["schedules", holding((await allSchedules(s)).map((x) => ({ holder: x.name, versions: scheduleHolds(x) })))],
  ];
  for (const [collection, holds] of holders) {
    for (let i = 0; i < holds.length; i += BATCH) await setHolds(s, holds.slice(i, i + BATCH));
    const { released } = await s.registry.releaseModelVersionHolds({ holderCollection: collection, keep: holds.map((h) => h.holder), setBefore });
    if (released.length) s.logger.info({ released }, `released the model version holds of ${collection} that are gone`);
  }
}

async function setHolds(s: Scheduler, holds: { holder: string; versions: string[] }[]): Promise<void> {
  const { missingVersions } = await s.registry.setModelVersionHolds({ holds });
  if (missingVersions.length) s.logger.warn({ versions: missingVersions }, "deployments or schedules name model versions that are gone from the registry");
}
