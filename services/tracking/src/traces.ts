import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidArgument, notFound, printable, type Json } from "@kiln/core";
import { ListTracesResponseSchema, TraceAssessmentSchema, TraceSchema, TraceSpanSchema, type GetTraceRequest, type ListTracesRequest, type ListTracesResponse, type Trace, type TraceAssessment, type TraceSpan } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackingDeps } from "./deps.js";
import { getExperiment } from "./experiments.js";
import { experimentOfId, parseRunId } from "./mlflow-ids.js";
import { SPAN_TYPE_ATTRIBUTE, spanField, spansOf, type Span } from "./mlflow-trace-spans.js";
import { tracesByIds } from "./mlflow-trace-store.js";
import { parseExperimentName, runName } from "./names.js";
import type { TraceRecord } from "./records.js";
import { runIdsOf, searchTraces } from "./trace-search.js";

/* Kiln's own reads of MLflow's traces (ListTraces, GetTrace): the records MLflow's API keeps. */

const SPAN_INPUTS = "mlflow.spanInputs";
const SPAN_OUTPUTS = "mlflow.spanOutputs";

export async function listTraces(deps: TrackingDeps, req: ListTracesRequest): Promise<ListTracesResponse> {
  const { name } = parseExperimentName(req.parent);
  await getExperiment(deps, name);
  const page = await searchTraces(deps, [name], { filter: req.filter, orderBy: req.orderBy, pageSize: req.pageSize || undefined, pageToken: req.pageToken || undefined });
  return create(ListTracesResponseSchema, { traces: page.items.map((t) => traceToProto(t)), nextPageToken: page.next ?? "" });
}

export async function getTrace(deps: TrackingDeps, req: GetTraceRequest): Promise<Trace> {
  const m = /^(projects\/[^/]+\/experiments\/[^/]+)\/traces\/([^/]+)$/.exec(req.name);
  if (!m) throw invalidArgument("INVALID_NAME", `invalid trace "${printable(req.name).slice(0, 200)}": expected projects/{p}/experiments/{e}/traces/{trace_id}`);
  const { name: experiment, project } = parseExperimentName(m[1]!);
  const [found] = await tracesByIds(deps, project, experiment, [m[2]!]);
  if (!found) throw notFound("TRACE_NOT_FOUND", `no trace ${printable(req.name).slice(0, 200)}`);
  return traceToProto(found, await spansOf(deps, found));
}

function traceToProto(t: TraceRecord, spans: Span[] = []): Trace {
  const { project } = parseExperimentName(t.experiment);
  const runs = runIdsOf(t).flatMap((runId) => {
    try {
      const { experimentId, run } = parseRunId(runId);
      return [runName(experimentOfId(project, experimentId), run)];
    } catch {
      return []; // a run id no Kiln run has
    }
  });
  return create(TraceSchema, {
    name: `${t.experiment}/traces/${t.traceId}`,
    state: t.state,
    requestTime: timestampFromMs(t.requestTime),
    executionMs: BigInt(t.executionMs),
    requestPreview: t.requestPreview,
    responsePreview: t.responsePreview,
    tags: t.tags,
    metadata: t.metadata,
    runs,
    assessments: t.assessments.map(assessmentToProto),
    spans: spans.map(spanToProto),
  });
}

function text(v: Json | undefined): string {
  return typeof v === "string" ? v : "";
}

function timeOf(v: Json | undefined): Timestamp | undefined {
  const ms = typeof v === "string" ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? timestampFromDate(new Date(ms)) : undefined;
}

function assessmentToProto(a: Record<string, Json>): TraceAssessment {
  const kind = a.feedback && typeof a.feedback === "object" ? "feedback" : "expectation";
  const body = (a[kind] ?? {}) as Record<string, Json>;
  const serialized = body.serialized_value as Record<string, Json> | undefined;
  const source = (a.source ?? {}) as Record<string, Json>;
  return create(TraceAssessmentSchema, {
    assessmentId: text(a.assessment_id),
    name: text(a.assessment_name),
    kind,
    value: body.value !== undefined ? JSON.stringify(body.value) : text(serialized?.value),
    rationale: text(a.rationale),
    source: [text(source.source_type), text(source.source_id)].filter(Boolean).join(":"),
    valid: a.valid !== false,
    createTime: timeOf(a.create_time),
    spanId: text(a.span_id),
  });
}

/** Unix nanoseconds (a number, or text) as a Timestamp. */
function timeOfNanos(v: Json | undefined): Timestamp | undefined {
  if (typeof v !== "number" && typeof v !== "string") return undefined;
  let ns: bigint;
  try {
    ns = BigInt(typeof v === "number" ? Math.trunc(v) : v);
  } catch {
    return undefined;
  }
  return create(TimestampSchema, { seconds: ns / 1_000_000_000n, nanos: Number(ns % 1_000_000_000n) });
}

function spanToProto(span: Span): TraceSpan {
  const attributes = (span.attributes && typeof span.attributes === "object" && !Array.isArray(span.attributes) ? span.attributes : {}) as Record<string, Json>;
  const others = Object.fromEntries(
    Object.entries(attributes)
      .filter(([k]) => k !== SPAN_INPUTS && k !== SPAN_OUTPUTS && k !== SPAN_TYPE_ATTRIBUTE)
      .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
  const status = (span.status ?? {}) as Record<string, Json>;
  return create(TraceSpanSchema, {
    spanId: text(span.span_id),
    parentSpanId: text(span.parent_span_id),
    name: text(span.name),
    spanType: spanField(span, "type") ?? "",
    status: spanField(span, "status") ?? "",
    statusMessage: text(status.message),
    startTime: timeOfNanos(span.start_time_unix_nano),
    endTime: timeOfNanos(span.end_time_unix_nano),
    inputs: text(attributes[SPAN_INPUTS]),
    outputs: text(attributes[SPAN_OUTPUTS]),
    attributes: others,
  });
}
