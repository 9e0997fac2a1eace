import { randomBytes } from "node:crypto";
import { invalidArgument, notFound, pathPart, printable, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { activeExperimentById, experimentById } from "./mlflow-experiments.js";
import { listOf, objectAt, objectsOf, optionalInteger, optionalText, requiredObject, requiredText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { runById } from "./mlflow-runs.js";
import { onAssessments } from "./mlflow-assessments.js";
import { checkTraceEntry, durationMs, MAX_KEY_CHARS, preview, stringMap, timestampMs, traceState } from "./mlflow-trace-fields.js";
import { endV2, infoV2, searchV2, startV2 } from "./mlflow-traces-v2.js";
import { ARTIFACT_LOCATION_TAG, changeTrace, deleteTraceRecords, saveTrace, TRACE_ID, traceById, traceInfoJson, tracesByIds, tracesStartedBy } from "./mlflow-trace-store.js";
import { searchTraces } from "./trace-search.js";
import type { TraceRecord } from "./records.js";

const MAX_LINKED_TRACES = 100;

/*
 * MLflow's tracing API: MLflow 3's under `/api/3.0/`, the calls its clients still make
 * under `/api/2.0/` (tags, links to runs, deletes), and MLflow 2's (mlflow-traces-v2.ts).
 */

/** StartTraceV3: records a trace's info when the traced call ends; again for the same trace, its info is replaced and what was added since kept. */
async function start(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const info = requiredObject(requiredObject(fields, "trace"), "trace_info");
  const location = objectAt(objectAt(info, "trace_location") ?? {}, "mlflow_experiment");
  if (!location) throw invalidArgument("MISSING_PARAMETER", "a trace's trace_location names its experiment: {type: MLFLOW_EXPERIMENT, mlflow_experiment: {experiment_id}}");
  const experiment = await activeExperimentById(deps, project, requiredText(location, "experiment_id"));
  const traceId = optionalText(info, "trace_id") ?? `tr-${randomBytes(16).toString("hex")}`;
  if (!TRACE_ID.test(traceId)) throw invalidArgument("INVALID_PARAMETER", `a trace_id is 1 to 128 letters, digits, "_", ".", ":" and "-", not ${printable(traceId).slice(0, 130)}`);
  const state = traceState(info, "state");
  const clientRequestId = optionalText(info, "client_request_id") ?? "";
  if (clientRequestId.length > MAX_KEY_CHARS) throw invalidArgument("INVALID_PARAMETER", `a client_request_id is at most ${MAX_KEY_CHARS} characters`);
  const tags = stringMap(info, "tags");
  delete tags[ARTIFACT_LOCATION_TAG]; // the server's to say
  const given: TraceRecord = {
    traceId,
    experiment: experiment.name,
    clientRequestId,
    requestTime: timestampMs(info, "request_time", nowOf(deps).getTime()),
    executionMs: durationMs(info, "execution_duration"),
    state,
    requestPreview: preview(info, "request_preview"),
    responsePreview: preview(info, "response_preview"),
    metadata: stringMap(info, "trace_metadata"),
    tags,
    assessments: objectsOf(info, "assessments"),
    linkedRuns: [],
    files: {},
  };
  const stored = await saveTrace(deps, project, given, (had) => ({
    ...given,
    metadata: { ...had.metadata, ...given.metadata },
    tags: { ...had.tags, ...given.tags },
    assessments: given.assessments.length ? given.assessments : had.assessments,
    linkedRuns: had.linkedRuns,
    files: had.files,
  }));
  return { trace: { trace_info: traceInfoJson(stored) } };
}

/** The path after `mlflow/traces/` (of either version): the trace's id and what follows it. */
function tracePath(path: string): { traceId: string; rest: string[] } {
  const [traceId = "", ...rest] = path.replace(/^(3\.0\/)?mlflow\/traces\//, "").split("/").map(pathPart);
  if (!traceId) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'trace_id'.");
  return { traceId, rest };
}

/** SearchTracesV3: the traces of the experiments its locations name, filtered, ordered and paged. */
async function search(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const locations = objectsOf(fields, "locations");
  if (!locations.length) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'locations'.");
  const experiments: string[] = [];
  for (const location of locations) {
    const experimentId = optionalText(objectAt(location, "mlflow_experiment") ?? {}, "experiment_id");
    if (!experimentId) throw invalidArgument("INVALID_PARAMETER", "Kiln keeps traces in experiments: each location is {type: MLFLOW_EXPERIMENT, mlflow_experiment: {experiment_id}}");
    experiments.push((await experimentById(deps, project, experimentId)).name);
  }
  const page = await searchTraces(deps, experiments, { filter: optionalText(fields, "filter") ?? "", orderBy: listOf(fields, "order_by"), pageSize: optionalInteger(fields, "max_results"), pageToken: optionalText(fields, "page_token") });
  return { traces: page.items.map(traceInfoJson), ...(page.next && { next_page_token: page.next }) };
}

/** DeleteTraces: by their ids, or the oldest up to a time (at most max_traces of them). */
async function deleteTraces(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const experiment = await experimentById(deps, project, requiredText(fields, "experiment_id"));
  const ids = listOf(fields, "request_ids");
  const before = optionalInteger(fields, "max_timestamp_millis");
  const maxTraces = optionalInteger(fields, "max_traces");
  if ((before === undefined) === (ids.length === 0)) throw invalidArgument("INVALID_PARAMETER", "Exactly one of 'max_timestamp_millis' and 'request_ids' must be specified.");
  if (maxTraces !== undefined && before === undefined) throw invalidArgument("INVALID_PARAMETER", "'max_traces' can only be specified with 'max_timestamp_millis'.");
  if (maxTraces !== undefined && maxTraces < 1) throw invalidArgument("INVALID_PARAMETER", "'max_traces' is at least 1");
  let doomed: TraceRecord[];
  if (before !== undefined) {
    doomed = await tracesStartedBy(deps, experiment.name, before, maxTraces);
  } else {
    doomed = await tracesByIds(deps, project, experiment.name, ids.map((id) => (typeof id === "string" ? id : "")));
  }
  await deleteTraceRecords(deps, project, doomed);
  return { traces_deleted: doomed.length };
}

/** A tag set (PATCH) or deleted (DELETE). */
async function changeTag(deps: TrackingDeps, project: string, traceId: string, method: string, fields: Record<string, Json>): Promise<Json> {
  const key = requiredText(fields, "key");
  if (key === ARTIFACT_LOCATION_TAG) throw invalidArgument("RESERVED_TAG", `the tag ${ARTIFACT_LOCATION_TAG} is where the trace's spans are, which the server says`);
  if (method === "DELETE") {
    await changeTrace(deps, project, traceId, (t) => {
      if (t.tags[key] === undefined) throw notFound("TAG_NOT_FOUND", `No trace tag with key '${printable(key).slice(0, 250)}' for trace with ID '${traceId}'`);
      const left = { ...t.tags };
      delete left[key];
      return { ...t, tags: left };
    });
    return {};
  }
  const value = optionalText(fields, "value") ?? "";
  checkTraceEntry("tag", key, value);
  await changeTrace(deps, project, traceId, (t) => ({ ...t, tags: { ...t.tags, [key]: value } }));
  return {};
}

/**
 * What a path under `mlflow/traces/{id}` names: its info (GET, 3.0), its tags (PATCH and
 * DELETE `…/tags`, either version) or its assessments (3.0).
 */
async function onTrace(deps: TrackingDeps, { project, path, fields, req }: MlflowCall): Promise<Json> {
  const { traceId, rest } = tracePath(path);
  const method = req.method ?? "GET";
  const v3 = path.startsWith("3.0/");
  if (rest.length === 1 && rest[0] === "tags" && (method === "PATCH" || method === "DELETE")) return changeTag(deps, project, traceId, method, fields);
  if (v3 && rest[0] === "assessments") return onAssessments(deps, project, traceId, rest.slice(1), method, fields);
  if (v3 && !rest.length && method === "GET") return { trace: { trace_info: traceInfoJson(await traceById(deps, project, traceId)) } };
  if (!v3 && !rest.length && method === "PATCH") return endV2(deps, project, traceId, fields);
  if (!v3 && rest.length === 1 && rest[0] === "info" && method === "GET") return infoV2(deps, project, traceId);
  throw notFound("ENDPOINT_NOT_FOUND", `Kiln's MLflow API has no ${method} /api/${v3 ? path : `2.0/${path}`}`);
}

/** LinkTracesToRun: the run is then among the trace's runs (`run_id = …` finds it). */
async function linkToRun(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const runId = requiredText(fields, "run_id");
  const ids = listOf(fields, "trace_ids");
  if (!ids.length) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'trace_ids'.");
  if (ids.length > MAX_LINKED_TRACES) throw invalidArgument("INVALID_PARAMETER", `at most ${MAX_LINKED_TRACES} traces are linked to a run at a time, not ${ids.length}`);
  await runById(deps, project, runId);
  const traceIds = ids.map((id) => (typeof id === "string" ? id : ""));
  for (const id of traceIds) await traceById(deps, project, id); // all exist before any changes
  for (const id of traceIds) await changeTrace(deps, project, id, (t) => (t.linkedRuns.includes(runId) ? undefined : { ...t, linkedRuns: [...t.linkedRuns, runId] }));
  return {};
}

export function traceEndpoints(deps: TrackingDeps): MlflowEndpoints {
  const deleteEndpoint = { method: "POST", role: "write", answer: (c: MlflowCall) => deleteTraces(deps, c) } as const;
  return {
    "POST 3.0/mlflow/traces": { method: "POST", role: "write", answer: (c) => start(deps, c) },
    "3.0/mlflow/traces/search": { method: "POST", role: "read", answer: (c) => search(deps, c) },
    "3.0/mlflow/traces/delete-traces": deleteEndpoint,
    "mlflow/traces/delete-traces": deleteEndpoint,
    "mlflow/traces/link-to-run": { method: "POST", role: "write", answer: (c) => linkToRun(deps, c) },
    "GET 3.0/mlflow/traces/*": { method: "GET", role: "read", answer: (c) => onTrace(deps, c) },
    "CHANGE 3.0/mlflow/traces/*": { method: ["POST", "PATCH", "DELETE"], role: "write", answer: (c) => onTrace(deps, c) },
    "CHANGE mlflow/traces/*": { method: ["PATCH", "DELETE"], role: "write", answer: (c) => onTrace(deps, c) },
    // MLflow 2's: StartTrace, SearchTraces, EndTrace (PATCH {id}) and GetTraceInfo ({id}/info).
    "POST mlflow/traces": { method: "POST", role: "write", answer: (c) => startV2(deps, c) },
    "GET mlflow/traces": { method: "GET", role: "read", answer: (c) => searchV2(deps, c) },
    "GET mlflow/traces/*": { method: "GET", role: "read", answer: (c) => onTrace(deps, c) },
  };
}
