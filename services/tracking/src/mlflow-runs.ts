import { Code } from "@connectrpc/connect";
import { invalidArgument, isKilnError, notFound, type Json } from "@kiln/core";
import { EVENT_VALUE_TYPES, stringAt, type EventSummary, type RunSelector } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { activeExperimentById, experimentById, idOfExperiment } from "./mlflow-experiments.js";
import { doubleJson, keyValueList, keyValues, optionalInteger, optionalText, requiredText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { parseRunId, runIdOf } from "./mlflow-ids.js";
import { collections, type ExperimentRecord, type RunRecord, type StatusName } from "./records.js";
import { runKey } from "./names.js";
import { changeRun, startRun } from "./runs.js";

export const RUN_NAME_TAG = "mlflow.runName";
export const USER_TAG = "mlflow.user";
/** MLflow truncates longer run tags by default; Kiln refuses what it would not keep whole. */
export const MAX_TAG_VALUE_CHARS = 8000;

export interface MetricValue {
  value: number;
  timestamp: number;
  step: number;
}

/** What a run logged, as MLflow shows it: each metric's latest value (highest step, then newest), and the params. */
export interface RunData {
  metrics: Map<string, MetricValue>;
  params: Map<string, string>;
  /** MLflow's dataset inputs (LogInputs) by their JSON: one logged twice shows once. */
  inputs: Map<string, Json>;
  /** MLflow 3's model outputs (LogOutputs), the same way. */
  outputs: Map<string, Json>;
}

/** The events MLflow's dataset inputs and model outputs are kept as, their value the JSON MLflow sent. */
export const INPUT_EVENT = "input";
export const OUTPUT_EVENT = "output";

/** A run an MLflow run_id names in the project, with its experiment. */
export async function runById(deps: TrackingDeps, project: string, runId: string): Promise<{ run: RunRecord; experimentId: string; experiment: ExperimentRecord }> {
  const { experimentId, run } = parseRunId(runId);
  const experiment = await experimentById(deps, project, experimentId).catch((e: unknown) => {
    if (isKilnError(e, Code.NotFound)) return undefined;
    throw e;
  });
  const found = experiment && (await collections(deps).runs.get(runKey(experiment.name, run)));
  if (!found) throw runNotFound(runId);
  return { run: found.value, experimentId, experiment };
}

/** Deleted as MLflow shows it: on its own, or with its experiment. */
export function isRunDeleted(run: RunRecord, experiment: ExperimentRecord): boolean {
  return Boolean(run.deletedTime ?? experiment.deletedTime);
}

/** A run that may still change: MLflow refuses to log to a deleted one. */
export async function activeRunById(deps: TrackingDeps, project: string, runId: string): Promise<{ run: RunRecord; experimentId: string; experiment: ExperimentRecord }> {
  const found = await runById(deps, project, runId);
  if (isRunDeleted(found.run, found.experiment)) throw invalidArgument("RUN_DELETED", `The run ${runId} must be in the 'active' state. Current state is deleted.`);
  return found;
}

function runNotFound(runId: string) {
  return notFound("RUN_NOT_FOUND", `Run with id=${runId} not found`);
}

/** run_id, or run_uuid as older clients name it. */
export function runIdField(fields: Record<string, Json>): string {
  return optionalText(fields, "run_id") ?? requiredText(fields, "run_uuid");
}

/** Each selected run's metrics and params (from the event store's summaries, not its events) and its inputs and outputs. */
export async function runsData(deps: TrackingDeps, experiment: string, runs: RunSelector): Promise<Map<number, RunData>> {
  const data = await runsMetricsAndParams(deps, experiment, runs);
  await addLinks(deps, experiment, runs, data);
  return data;
}

const emptyRunData = (): RunData => ({ metrics: new Map(), params: new Map(), inputs: new Map(), outputs: new Map() });

function dataOf(data: Map<number, RunData>, run: number): RunData {
  let d = data.get(run);
  if (!d) data.set(run, (d = emptyRunData()));
  return d;
}

/**
 * Each run's latest metrics (highest step, then newest) and params, as MLflow shows them: a
 * row per run and key, whatever was logged; only those of `keys` when given.
 */
export async function runsMetricsAndParams(deps: TrackingDeps, experiment: string, runs: RunSelector, keys?: readonly string[]): Promise<Map<number, RunData>> {
  const data = new Map<number, RunData>();
  for (const s of await deps.events.summarize({ experiment, runs, events: ["metric", "param"], keys })) {
    const d = dataOf(data, s.run);
    if (s.event === "param") d.params.set(s.key, paramText(s));
    else if (s.valueType === "number") d.metrics.set(s.key, { value: s.number!, timestamp: s.dt, step: s.step });
  }
  return data;
}

/** A param as MLflow shows params: text (Kiln's SDK logs numbers and JSON too). */
export const paramText = (s: EventSummary): string => (s.valueType === "number" ? String(s.number) : (s.text ?? ""));

/** The runs' dataset inputs and model outputs (reading only events of those two kinds). */
export async function addLinks(deps: TrackingDeps, experiment: string, runs: RunSelector, data: Map<number, RunData>): Promise<void> {
  for await (const page of deps.events.query({ experiment, runs, events: [INPUT_EVENT, OUTPUT_EVENT] })) {
    for (let i = 0; i < page.length; i++) {
      if (EVENT_VALUE_TYPES[page.valueType[i]!] !== "json") continue;
      const d = dataOf(data, page.run[i]!);
      (stringAt(page.event, i) === INPUT_EVENT ? d.inputs : d.outputs).set(page.text[i]!, JSON.parse(page.text[i]!) as Json);
    }
  }
}

export function runNameOf(r: RunRecord): string {
  return r.tags[RUN_NAME_TAG] ?? `run-${r.run}`;
}

function infoJson(experiment: ExperimentRecord, r: RunRecord): Json {
  const experimentId = idOfExperiment(experiment);
  const runId = runIdOf(experimentId, r.run);
  return {
    run_id: runId,
    run_uuid: runId,
    run_name: runNameOf(r),
    experiment_id: experimentId,
    user_id: r.creator || r.tags[USER_TAG] || "",
    status: r.status,
    start_time: Date.parse(r.startTime),
    ...(r.endTime ? { end_time: Date.parse(r.endTime) } : {}),
    artifact_uri: `mlflow-artifacts:/${experimentId}/${runId}/artifacts`,
    lifecycle_stage: isRunDeleted(r, experiment) ? "deleted" : "active",
  };
}

export function runJson(experiment: ExperimentRecord, r: RunRecord, data: RunData | undefined): Json {
  return {
    info: infoJson(experiment, r),
    data: {
      metrics: [...(data?.metrics ?? [])].map(([key, m]) => ({ key, value: doubleJson(m.value), timestamp: m.timestamp, step: m.step })),
      params: keyValueList(data?.params ?? []),
      tags: keyValueList(Object.entries(r.tags)),
    },
    inputs: data?.inputs.size ? { dataset_inputs: [...data.inputs.values()] } : {},
    ...(data?.outputs.size ? { outputs: { model_outputs: [...data.outputs.values()] } } : {}),
  };
}

export function checkRunTag(key: string, value: string): void {
  if (!key || key.length > 250) throw invalidArgument("INVALID_KEY", `a key is 1 to 250 characters`);
  if (value.length > MAX_TAG_VALUE_CHARS) throw invalidArgument("VALUE_TOO_LONG", `'${key}' has ${value.length} characters; a value is at most ${MAX_TAG_VALUE_CHARS}`);
}

async function create(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const experimentId = optionalText(fields, "experiment_id") ?? "0";
  const experiment = await activeExperimentById(deps, project, experimentId);
  const tags = Object.fromEntries(keyValues(fields, "tags").map((t) => [t.key, t.value]));
  for (const [key, value] of Object.entries(tags)) checkRunTag(key, value);
  const runName = optionalText(fields, "run_name");
  if (runName !== undefined) {
    if (tags[RUN_NAME_TAG] !== undefined && tags[RUN_NAME_TAG] !== runName) throw invalidArgument("RUN_NAME_MISMATCH", `run_name '${runName}' and the tag ${RUN_NAME_TAG} '${tags[RUN_NAME_TAG]}' differ`);
    tags[RUN_NAME_TAG] = runName;
  }
  const userId = optionalText(fields, "user_id");
  if (userId && tags[USER_TAG] === undefined) tags[USER_TAG] = userId;
  const startTime = optionalInteger(fields, "start_time");
  const run = await startRun(deps, { parent: experiment.name, tags, node: "", runKey: "", createExperiment: false }, "", startTime ? new Date(startTime) : undefined);
  return { run: runJson(experiment, run, undefined) };
}

async function get(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const { run, experiment } = await runById(deps, project, runIdField(fields));
  const data = await runsData(deps, run.experiment, { runs: [run.run] });
  return { run: runJson(experiment, run, data.get(run.run)) };
}

const STATUSES: Record<string, StatusName> = { RUNNING: "RUNNING", FINISHED: "FINISHED", FAILED: "FAILED", KILLED: "KILLED", "1": "RUNNING", "3": "FINISHED", "4": "FAILED", "5": "KILLED" };

/** MLflow's UpdateRun: status, end time and name, each when given (a run may go back to RUNNING, as MLflow's resume does). */
async function update(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const { run, experiment } = await activeRunById(deps, project, runIdField(fields));
  const statusField = fields.status;
  const status = statusField === undefined || statusField === null ? undefined : STATUSES[String(statusField)];
  if (statusField !== undefined && statusField !== null && !status) throw invalidArgument("INVALID_STATUS", `status is RUNNING, FINISHED, FAILED or KILLED (Kiln has no SCHEDULED runs), not ${JSON.stringify(statusField)}`);
  const endTime = optionalInteger(fields, "end_time");
  const runName = optionalText(fields, "run_name");
  const changed = await changeRun(deps, run.experiment, run.run, (r) => {
    const next = { ...r, tags: { ...r.tags } };
    if (status) next.status = status;
    if (endTime !== undefined) next.endTime = new Date(endTime).toISOString();
    else if (status && status !== "RUNNING" && !r.endTime) next.endTime = nowOf(deps).toISOString();
    if (runName !== undefined) next.tags[RUN_NAME_TAG] = runName;
    return next;
  });
  return { run_info: infoJson(experiment, changed) };
}

/** Sets (or with `value` undefined, deletes) run tags; the tag mlflow.runName is the run's name. */
export async function setRunTags(deps: TrackingDeps, run: RunRecord, tags: readonly { key: string; value?: string }[]): Promise<void> {
  if (!tags.length) return;
  for (const t of tags) if (t.value !== undefined) checkRunTag(t.key, t.value);
  await changeRun(deps, run.experiment, run.run, (r) => {
    const next = { ...r.tags };
    for (const t of tags) {
      if (t.value === undefined) delete next[t.key];
      else next[t.key] = t.value;
    }
    return { ...r, tags: next };
  });
}

async function setTag(deps: TrackingDeps, { project, fields }: MlflowCall, remove: boolean): Promise<Json> {
  const { run } = await activeRunById(deps, project, runIdField(fields));
  const key = requiredText(fields, "key");
  if (remove && run.tags[key] === undefined) throw notFound("TAG_NOT_FOUND", `No tag with name: ${key} in run with id ${runIdField(fields)}`);
  await setRunTags(deps, run, [{ key, value: remove ? undefined : (optionalText(fields, "value") ?? "") }]);
  return {};
}

/** MLflow's DeleteRun and RestoreRun: the run's lifecycle stage as MLflow's API shows it. */
async function setDeleted(deps: TrackingDeps, { project, fields }: MlflowCall, deleted: boolean): Promise<Json> {
  const { run } = await runById(deps, project, requiredText(fields, "run_id"));
  await changeRun(deps, run.experiment, run.run, (r) => {
    if (Boolean(r.deletedTime) === deleted) return undefined;
    const next = { ...r };
    if (deleted) next.deletedTime = nowOf(deps).toISOString();
    else delete next.deletedTime;
    return next;
  });
  return {};
}

export function runEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return {
    "mlflow/runs/create": { method: "POST", role: "write", answer: (c) => create(deps, c) },
    "mlflow/runs/get": { method: "GET", role: "read", answer: (c) => get(deps, c) },
    "mlflow/runs/update": { method: "POST", role: "write", answer: (c) => update(deps, c) },
    "mlflow/runs/set-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, false) },
    "mlflow/runs/delete-tag": { method: "POST", role: "write", answer: (c) => setTag(deps, c, true) },
    "mlflow/runs/delete": { method: "POST", role: "write", answer: (c) => setDeleted(deps, c, true) },
    "mlflow/runs/restore": { method: "POST", role: "write", answer: (c) => setDeleted(deps, c, false) },
  };
}
