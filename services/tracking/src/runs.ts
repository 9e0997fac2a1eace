import { Code } from "@connectrpc/connect";
import { failedPrecondition, invalidArgument, isKilnError, notFound } from "@kiln/core";
import { RunStatus, type StartRunRequest } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { changeStored } from "./compare-and-set.js";
import type { TrackingDeps } from "./deps.js";
import { ensureExperiment, getExperiment, nextRunNumber, nowOf } from "./experiments.js";
import { parseExperimentName, parseRunName, runKey } from "./names.js";
import { collections, type RunRecord, type StatusName } from "./records.js";
import { indexRunStart } from "./run-starts.js";

/**
 * Opens the next run. With a run_key, a second start with the same key returns the run
 * the first one opened (an executor retrying, or two starts racing). The key is claimed
 * together with its run number, so a crash between the claim and the run record is
 * repaired by the next start with that key.
 */
export async function startRun(
  deps: TrackingDeps,
  req: Pick<StartRunRequest, "parent" | "tags" | "node" | "runKey" | "createExperiment">,
  creator = "",
  startTime?: Date,
): Promise<RunRecord> {
  const { name: experiment } = parseExperimentName(req.parent);
  if (req.runKey.length > 256) throw invalidArgument("INVALID_RUN_KEY", "run_key is longer than 256 characters");
  if (req.createExperiment) await ensureExperiment(deps, experiment);
  else await getExperiment(deps, experiment);
  const { runKeys } = collections(deps);
  const keyName = `${experiment}/${req.runKey}`;
  const fresh = (run: number): RunRecord => ({ experiment, run, status: "RUNNING", startTime: (startTime ?? nowOf(deps)).toISOString(), tags: req.tags, node: req.node, runKey: req.runKey, ...(creator && { creator }) });
  if (!req.runKey) return createRun(deps, fresh(await nextRunNumber(deps, experiment)));
  const claimed = await runKeys.get(keyName);
  if (claimed) return runOrCreate(deps, fresh(claimed.value.run));
  const run = await nextRunNumber(deps, experiment);
  const won = await runKeys.create(keyName, { run }).then(
    () => true,
    (e: unknown) => {
      if (isKilnError(e, Code.AlreadyExists)) return false;
      throw e;
    },
  );
  if (won) return runOrCreate(deps, fresh(run));
  return runOrCreate(deps, fresh((await runKeys.get(keyName))!.value.run)); // another start won the key
}

async function createRun(deps: TrackingDeps, record: RunRecord): Promise<RunRecord> {
  await indexRunStart(deps, record);
  await collections(deps).runs.create(runKey(record.experiment, record.run), record);
  return record;
}

/** The run if it exists, else this record created (a start that crashed after its claim). */
async function runOrCreate(deps: TrackingDeps, record: RunRecord): Promise<RunRecord> {
  const { runs } = collections(deps);
  const found = await runs.get(runKey(record.experiment, record.run));
  if (found) return found.value;
  return createRun(deps, record).catch(async (e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
    return (await runs.get(runKey(record.experiment, record.run)))!.value;
  });
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
  return changeRun(deps, experiment, run, (r) => (r.status === "RUNNING" ? { ...r, status: final, endTime: nowOf(deps).toISOString() } : undefined));
}

/**
 * Changes a stored run (its status, times or tags) by a compare-and-set: `change` gets the
 * run as stored and returns it changed, or undefined to leave it as it is.
 */
export async function changeRun(deps: TrackingDeps, experiment: string, run: number, change: (r: RunRecord) => RunRecord | undefined): Promise<RunRecord> {
  return changeStored(collections(deps).runs, runKey(experiment, run), change, {
    missing: () => notFound("RUN_NOT_FOUND", `run ${run} of ${experiment} does not exist`, { experiment, run: String(run) }),
    busy: () => failedPrecondition("RUN_CONTENTION", `run ${run} of ${experiment} is changing too often; try again`),
  }, 20);
}
