import { randomBytes } from "node:crypto";
import { invalidArgument, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { nowOf } from "./experiments.js";
import { activeExperimentById, experimentById } from "./mlflow-experiments.js";
import { keyValueList, listOf, optionalInteger, optionalText, type MlflowCall } from "./mlflow-http.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { keyValueMap, timestampMs, traceState } from "./mlflow-trace-fields.js";
import { ARTIFACT_LOCATION_TAG, changeTrace, saveTrace, traceArtifactUri, traceById } from "./mlflow-trace-store.js";
import type { TraceRecord } from "./records.js";
import { searchTraces } from "./trace-search.js";

/*
 * MLflow 2's trace API (its clients from 2.14 to 2.21): a trace is started when the traced
 * call starts (the server gives its id) and ended when it ends; its info is MLflow 2's
 * TraceInfo, with lists of `{key, value}` for its tags and request metadata.
 */

const STATUS_V2: Record<TraceRecord["state"], string> = { STATE_UNSPECIFIED: "TRACE_STATUS_UNSPECIFIED", OK: "OK", ERROR: "ERROR", IN_PROGRESS: "IN_PROGRESS" };

export function traceInfoV2Json(t: TraceRecord): Json {
  const experimentId = experimentIdOf(t.experiment);
  return {
    request_id: t.traceId,
    experiment_id: experimentId,
    timestamp_ms: t.requestTime,
    ...(t.state !== "IN_PROGRESS" && { execution_time_ms: t.executionMs }),
    status: STATUS_V2[t.state],
    request_metadata: keyValueList(Object.entries(t.metadata)),
    tags: keyValueList([...Object.entries(t.tags), [ARTIFACT_LOCATION_TAG, traceArtifactUri(experimentId, t.traceId)]]),
  };
}

/** StartTrace (POST mlflow/traces): a trace IN_PROGRESS, under an id the server makes. */
export async function startV2(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const experiment = await activeExperimentById(deps, project, optionalText(fields, "experiment_id") ?? "0");
  const tags = keyValueMap(fields, "tags");
  delete tags[ARTIFACT_LOCATION_TAG];
  const given: TraceRecord = {
    traceId: `tr-${randomBytes(16).toString("hex")}`,
    experiment: experiment.name,
    clientRequestId: "",
    requestTime: timestampMs(fields, "timestamp_ms", nowOf(deps).getTime()),
    executionMs: 0,
    state: "IN_PROGRESS",
    requestPreview: "",
    responsePreview: "",
    metadata: keyValueMap(fields, "request_metadata"),
    tags,
    assessments: [],
    linkedRuns: [],
    files: {},
  };
  return { trace_info: traceInfoV2Json(await saveTrace(deps, project, given, () => undefined)) };
}

/** EndTrace (PATCH mlflow/traces/{id}): its status and end time; metadata and tags merged in. */
export async function endV2(deps: TrackingDeps, project: string, traceId: string, fields: Record<string, Json>): Promise<Json> {
  const endMs = timestampMs(fields, "timestamp_ms", nowOf(deps).getTime());
  const state = traceState(fields, "status");
  const metadata = keyValueMap(fields, "request_metadata");
  const tags = keyValueMap(fields, "tags");
  delete tags[ARTIFACT_LOCATION_TAG];
  const ended = await changeTrace(deps, project, traceId, (t) => ({
    ...t,
    state,
    executionMs: Math.max(0, endMs - t.requestTime),
    metadata: { ...t.metadata, ...metadata },
    tags: { ...t.tags, ...tags },
  }));
  return { trace_info: traceInfoV2Json(ended) };
}

/** GetTraceInfo (GET mlflow/traces/{id}/info). */
export async function infoV2(deps: TrackingDeps, project: string, traceId: string): Promise<Json> {
  return { trace_info: traceInfoV2Json(await traceById(deps, project, traceId)) };
}

/** SearchTraces (GET mlflow/traces): `experiment_ids`, MLflow's trace filter, order_by and pages. */
export async function searchV2(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const ids = listOf(fields, "experiment_ids");
  if (!ids.length) throw invalidArgument("MISSING_PARAMETER", "Missing value for required parameter 'experiment_ids'.");
  const experiments: string[] = [];
  for (const id of ids) experiments.push((await experimentById(deps, project, String(id))).name);
  const page = await searchTraces(deps, experiments, { filter: optionalText(fields, "filter") ?? "", orderBy: listOf(fields, "order_by"), pageSize: optionalInteger(fields, "max_results"), pageToken: optionalText(fields, "page_token") });
  return { traces: page.items.map(traceInfoV2Json), ...(page.next && { next_page_token: page.next }) };
}
