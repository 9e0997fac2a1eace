import { Code } from "@connectrpc/connect";
import { alreadyExists, failedPrecondition, isKilnError, notFound, printable, type Json } from "@kiln/core";
import { storedInPages } from "@kiln/storage";
import { changeStored } from "./compare-and-set.js";
import type { TrackingDeps } from "./deps.js";
import { trackingGarbage, traceFiles } from "./garbage.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { collections, type TraceRecord } from "./records.js";

/**
 * Where MLflow's traces are kept: a trace's info is a document under its experiment, keyed
 * by its start time (a search newest first reads no further than its page), and found by
 * its id through the project's index of ids; its spans are the file `traces.json` that
 * MLflow's clients upload to the trace's artifact location, which the server names in the
 * tag `mlflow.artifactLocation` (as MLflow's own server does without span logging).
 */
export const TRACE_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
export const ARTIFACT_LOCATION_TAG = "mlflow.artifactLocation";
/** The run a trace was made in, in its metadata. */
export const SOURCE_RUN_METADATA = "mlflow.sourceRun";

export function traceArtifactUri(experimentId: string, traceId: string): string {
  return `mlflow-artifacts:/${experimentId}/traces/${traceId}/artifacts`;
}

function indexKey(project: string, traceId: string): string {
  return `${project}/${traceId}`;
}

/** The key of the trace's spans' document (traceSpans). */
export function spansKey(project: string, traceId: string): string {
  return `${project}/${traceId}`;
}

/** `{experiment}/{start time, 15 digits}/{trace id}`: an experiment's traces in time order. */
function traceKey(t: Pick<TraceRecord, "experiment" | "requestTime" | "traceId">): string {
  return `${t.experiment}/${String(t.requestTime).padStart(15, "0")}/${t.traceId}`;
}

export function experimentPrefix(experiment: string): string {
  return `${experiment}/`;
}

function traceNotFound(traceId: string) {
  return notFound("TRACE_NOT_FOUND", `Trace with ID ${printable(traceId).slice(0, 130)} not found.`);
}

/** Where the trace is, from the project's index of trace ids. */
async function keyOfTrace(deps: TrackingDeps, project: string, traceId: string): Promise<{ experiment: string; key: string }> {
  const found = TRACE_ID.test(traceId) ? await collections(deps).traceIds.get(indexKey(project, traceId)) : undefined;
  if (!found) throw traceNotFound(traceId);
  return found.value;
}

export async function traceById(deps: TrackingDeps, project: string, traceId: string): Promise<TraceRecord> {
  const found = await collections(deps).traces.get((await keyOfTrace(deps, project, traceId)).key);
  if (!found) throw traceNotFound(traceId);
  return found.value;
}

/** The project's traces of these ids in the experiment; ids of none, or of another experiment's, left out. */
export async function tracesByIds(deps: TrackingDeps, project: string, experiment: string, traceIds: readonly string[]): Promise<TraceRecord[]> {
  const { traces, traceIds: index } = collections(deps);
  const places = await index.getMany(traceIds.filter((id) => TRACE_ID.test(id)).map((id) => indexKey(project, id)));
  const keys = places.flatMap((p) => (p && p.value.experiment === experiment ? [p.value.key] : []));
  return (await traces.getMany(keys)).flatMap((s) => (s ? [s.value] : []));
}

/** Changes a trace by a compare-and-set, as changeRun does a run. Its start time, which places it, stays. */
export async function changeTrace(deps: TrackingDeps, project: string, traceId: string, change: (t: TraceRecord) => TraceRecord | undefined | Promise<TraceRecord | undefined>): Promise<TraceRecord> {
  return changeStored(collections(deps).traces, (await keyOfTrace(deps, project, traceId)).key, async (t) => {
    const next = await change(t);
    return next && { ...next, requestTime: t.requestTime };
  }, {
    missing: () => traceNotFound(traceId),
    busy: () => failedPrecondition("TRACE_CONTENTION", `trace ${traceId} is changing too often; try again`),
  }, 50);
}

/**
 * Stores a new trace under its id, which becomes the project's; `merge` makes what is
 * stored when the trace is there already (a retried start), or undefined to keep it as it
 * is. An id held by another experiment's trace is AlreadyExists. Answers the trace stored.
 */
export async function saveTrace(deps: TrackingDeps, project: string, given: TraceRecord, merge: (had: TraceRecord) => TraceRecord | undefined): Promise<TraceRecord> {
  const { traces, traceIds } = collections(deps);
  let key = traceKey(given);
  await traceIds.create(indexKey(project, given.traceId), { experiment: given.experiment, key }).catch(async (e: unknown) => {
    if (!isKilnError(e, Code.AlreadyExists)) throw e;
    const held = (await traceIds.get(indexKey(project, given.traceId)))?.value;
    if (held?.experiment !== given.experiment) throw alreadyExists("TRACE_EXISTS", `trace ${given.traceId} is in experiment ${experimentIdOf(held?.experiment ?? "")}`);
    key = held.key; // a retried start keeps where the first put it
  });
  return traces.create(key, { ...given, requestTime: Number(key.split("/").at(-2)) }).then(
    (stored) => stored.value,
    (e: unknown) => {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
      return changeTrace(deps, project, given.traceId, merge);
    },
  );
}

/** A protobuf Duration as its JSON writes it. */
function durationJson(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

export function traceInfoJson(t: TraceRecord): Json {
  const experimentId = experimentIdOf(t.experiment);
  return {
    trace_id: t.traceId,
    ...(t.clientRequestId && { client_request_id: t.clientRequestId }),
    trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: experimentId } },
    ...(t.requestPreview && { request_preview: t.requestPreview }),
    ...(t.responsePreview && { response_preview: t.responsePreview }),
    request_time: new Date(t.requestTime).toISOString(),
    execution_duration: durationJson(t.executionMs),
    state: t.state,
    trace_metadata: t.metadata,
    assessments: t.assessments,
    tags: { ...t.tags, [ARTIFACT_LOCATION_TAG]: traceArtifactUri(experimentId, t.traceId) },
  };
}

export async function tracesOf(deps: TrackingDeps, experiment: string): Promise<TraceRecord[]> {
  return (await collections(deps).traces.list({ prefix: experimentPrefix(experiment) })).map((s) => s.value);
}

/** The experiment's traces that started at or before `beforeMs`, oldest first, at most `limit`: read in key order, and no further. */
export async function tracesStartedBy(deps: TrackingDeps, experiment: string, beforeMs: number, limit = Infinity): Promise<TraceRecord[]> {
  const found: TraceRecord[] = [];
  for await (const { value } of storedInPages(collections(deps).traces, experimentPrefix(experiment))) {
    if (value.requestTime > beforeMs || found.length === limit) break;
    found.push(value);
  }
  return found;
}

/** Deletes the traces and their ids; their files are collected after the grace period. */
export async function deleteTraceRecords(deps: TrackingDeps, project: string, doomed: readonly TraceRecord[]): Promise<void> {
  const { traces, traceIds, traceSpans } = collections(deps);
  const files = doomed.flatMap(traceFiles);
  for (const t of doomed) {
    await traces.delete(traceKey(t));
    // The blobs a spans' document names as it is now (the trace notes them once it has read them).
    const spans = await traceSpans.get(spansKey(project, t.traceId));
    for (const piece of spans?.value.pieces ?? []) files.push(piece.sha256);
    await traceSpans.delete(spansKey(project, t.traceId));
    await traceIds.delete(indexKey(project, t.traceId));
  }
  await trackingGarbage(deps).mark(files);
}

