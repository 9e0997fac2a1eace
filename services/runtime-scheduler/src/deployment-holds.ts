import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { nowOf, type Scheduler } from "./job-store.js";

/** How often a scheduler sets every deployment's holds again and releases those of deployments gone. */
const SWEEP_EVERY_MS = 60_000;
/** Holds set this long before a sweep began are released if their deployment is gone: more than schedulers' and registries' clocks differ. */
const CLOCK_MARGIN_MS = 60_000;
const BATCH = 1_000;
const lastSweep = new WeakMap<Scheduler, number>();

/** The versions a deployment keeps the registry from deleting: the one it serves and its canary's. */
function heldVersions(d: Deployment): string[] {
  return [d.modelVersion, d.canaryModelVersion].filter((v) => v !== "");
}

/** Whether a change of the deployment changed the versions it holds. */
export function holdsChanged(before: Deployment, after: Deployment): boolean {
  return heldVersions(before).join() !== heldVersions(after).join();
}

/**
 * Sets the registry's holds of a deployment to the versions it names as written (none once
 * deleted). A registry away is logged, not failed on: the deployment is written, and the
 * next sweep sets them.
 */
export async function syncDeploymentHolds(s: Scheduler, name: string, written: Deployment | undefined): Promise<void> {
  const versions = written ? heldVersions(written) : [];
  await setHolds(s, [{ holder: name, versions }]).catch((e: unknown) => {
    s.logger.warn({ err: e, deployment: name }, "could not set the registry's holds of a deployment; the next sweep sets them");
  });
}

/** Every deployment's holds set again, and those of deployments gone released; at most every SWEEP_EVERY_MS per scheduler. */
export async function sweepDeploymentHolds(s: Scheduler): Promise<void> {
  const now = nowOf(s);
  if (now.getTime() - (lastSweep.get(s) ?? -Infinity) < SWEEP_EVERY_MS) return;
  lastSweep.set(s, now.getTime());
  const all = await s.deployments.get();
  for (let i = 0; i < all.length; i += BATCH) await setHolds(s, all.slice(i, i + BATCH).map((d) => ({ holder: d.name, versions: heldVersions(d) })));
  const setBefore = timestampFromDate(new Date(now.getTime() - CLOCK_MARGIN_MS));
  const { released } = await s.registry.releaseModelVersionHolds({ holderCollection: "deployments", keep: all.map((d) => d.name), setBefore });
  if (released.length) s.logger.info({ released }, "released the model version holds of deployments that are gone");
}

async function setHolds(s: Scheduler, holds: { holder: string; versions: string[] }[]): Promise<void> {
  const { missingVersions } = await s.registry.setModelVersionHolds({ holds });
  if (missingVersions.length) s.logger.warn({ versions: missingVersions }, "deployments serve model versions that are gone from the registry");
}
