import { Code } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, isKilnError, notFound, unavailable } from "@kiln/core";
import { RunStatus, type StartRunRequest } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackingDeps } from "./deps.js";
import { ensureExperiment, getExperiment, nextRunNumber, nowOf } from "./experiments.js";
import { parseExperimentName, parseRunName, runKey } from "./names.js";
import { collections, type RunRecord, type StatusName } from "./records.js";

const KEY_WAIT_MS = 5_000;

/**
 * Opens the next run. With a run_key, a second start with the same key returns the run
 * the first one opened (an executor retrying, or two starts racing).
 */
export async function startRun(deps: TrackingDeps, req: Pick<StartRunRequest, "parent" | "tags" | "node" | "runKey" | "createExperiment">): Promise<RunRecord> {
  const { name: experiment } = parseExperimentName(req.parent);
  if (req.runKey.length > 256) throw invalidArgument("INVALID_RUN_KEY", "run_key is longer than 256 characters");
  if (req.createExperiment) await ensureExperiment(deps, experiment);
  else await getExperiment(deps, experiment);
  const { runs, runKeys } = collections(deps);
  const keyName = `${experiment}/${req.runKey}`;
  if (req.runKey) {
    const claimed = await runKeys.create(keyName, { run: 0 }).then(
      () => true,
      (e: unknown) => {
        if (isKilnError(e, Code.AlreadyExists)) return false;
        throw e;
      },
    );
    if (!claimed) return runOfKey(deps, experiment, keyName);
  }
  const run = await nextRunNumber(deps, experiment);
  const record: RunRecord = { experiment, run, status: "RUNNING", startTime: nowOf(deps).toISOString(), tags: req.tags, node: req.node, runKey: req.runKey };
  await runs.create(runKey(experiment, run), record);
  if (req.runKey) await runKeys.update(keyName, { run }, 1);
  return record;
}

/** The run another start with this key opened (it may still be opening it). */
async function runOfKey(deps: TrackingDeps, experiment: string, keyName: string): Promise<RunRecord> {
  const deadline = Date.now() + KEY_WAIT_MS;
  for (;;) {
    const found = await collections(deps).runKeys.get(keyName);
    if (found && found.value.run > 0) return getRun(deps, experiment, found.value.run);
    if (Date.now() > deadline) throw unavailable("RUN_STARTING", `the run for ${keyName} is still being opened; try again`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function getRun(deps: TrackingDeps, experiment: string, run: number): Promise<RunRecord> {
  const found = await collections(deps).runs.get(runKey(experiment, run));
  if (!found) throw notFound("RUN_NOT_FOUND", `run ${run} of ${experiment} does not exist`, { experiment, run: String(run) });
  return found.value;
}

export async function getRunByName(deps: TrackingDeps, name: string): Promise<RunRecord> {
  const { experiment, run } = parseRunName(name);
  return getRun(deps, experiment, run);
}

const FINAL: Partial<Record<RunStatus, StatusName>> = { [RunStatus.FINISHED]: "FINISHED", [RunStatus.FAILED]: "FAILED", [RunStatus.KILLED]: "KILLED" };

/** Ends a run with a final status; ending an ended run again changes nothing. */
export async function endRun(deps: TrackingDeps, name: string, status: RunStatus): Promise<RunRecord> {
  const final = FINAL[status];
  if (!final) throw invalidArgument("INVALID_STATUS", "a run ends FINISHED, FAILED or KILLED");
  const { experiment, run } = parseRunName(name);
  const { runs } = collections(deps);
  for (let attempt = 0; attempt < 20; attempt++) {
    const found = await runs.get(runKey(experiment, run));
    if (!found) throw notFound("RUN_NOT_FOUND", `run ${run} of ${experiment} does not exist`);
    if (found.value.status !== "RUNNING") return found.value;
    const next: RunRecord = { ...found.value, status: final, endTime: nowOf(deps).toISOString() };
    try {
      await runs.update(runKey(experiment, run), next, found.rev);
      return next;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
  throw failedPrecondition("RUN_CONTENTION", `run ${name} is changing too often; try again`);
}
