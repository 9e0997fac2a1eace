import { create, fromBinary, fromJson, toBinary, type JsonValue } from "@bufbuild/protobuf";
import { invalidArgument, printable, readBody, type Json } from "@kiln/core";
import { ExportTraceServiceRequestSchema, ExportTraceServiceResponseSchema } from "@kiln/proto/opentelemetry/proto/collector/trace/v1/trace_service_pb";
import type { AnyValue, KeyValue } from "@kiln/proto/opentelemetry/proto/common/v1/common_pb";
import { Status_StatusCode, type Span as OtlpSpan } from "@kiln/proto/opentelemetry/proto/trace/v1/trace_pb";
import type { TrackingDeps } from "./deps.js";
import { activeExperimentById } from "./mlflow-experiments.js";
import { MAX_BODY_BYTES, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { addTraceFile, parseSpans, spanField, spansOf, TRACE_DATA_FILE, writeSpansDoc, type Span } from "./mlflow-trace-spans.js";
import { saveTrace } from "./mlflow-trace-store.js";
import type { TraceRecord } from "./records.js";

/*
 * OpenTelemetry's exporters send spans here (OTLP over HTTP, `POST /v1/traces`, protobuf or
 * JSON), as they do to MLflow's server: into the experiment the header
 * `x-mlflow-experiment-id` names (Default without it). Each trace's spans go into its spans'
 * file in MLflow's form, so MLflow's clients, Kiln's API and the console read them as they
 * read a trace an MLflow client logged; a trace whose spans come in several requests grows
 * with each.
 */

const EXPERIMENT_HEADER = "x-mlflow-experiment-id";
const DEFAULT_EXPERIMENT = "0";
const PREVIEW_CHARS = 1000;
/** Metadata of a trace made from OTLP spans: its name, state and previews follow its spans as they come. */
const SOURCE_METADATA = "kiln.traceSource";
const STATUS_CODES: Record<Status_StatusCode, string> = {
  [Status_StatusCode.UNSET]: "STATUS_CODE_UNSET",
  [Status_StatusCode.OK]: "STATUS_CODE_OK",
  [Status_StatusCode.ERROR]: "STATUS_CODE_ERROR",
};
/** The OTLP/JSON fields that hold ids in hex, where protobuf's JSON has base64. */
const HEX_IDS = new Set(["traceId", "spanId", "parentSpanId"]);

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64");
}

/** OTLP/JSON's ids are hex (its one departure from protobuf's JSON): made base64 for fromJson. */
function withBase64Ids(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withBase64Ids);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, HEX_IDS.has(k) && typeof v === "string" && /^[0-9a-fA-F]*$/.test(v) ? Buffer.from(v, "hex").toString("base64") : withBase64Ids(v)]));
}

function anyValue(v: AnyValue | undefined): Json {
  switch (v?.value.case) {
    case "stringValue":
    case "boolValue":
    case "doubleValue":
      return v.value.value;
    case "intValue":
      return Number.isSafeInteger(Number(v.value.value)) ? Number(v.value.value) : String(v.value.value);
    case "bytesValue":
      return base64(v.value.value);
    case "arrayValue":
      return v.value.value.values.map(anyValue);
    case "kvlistValue":
      return attributesOf(v.value.value.values);
    default:
      return null;
  }
}

function attributesOf(values: readonly KeyValue[]): Record<string, Json> {
  return Object.fromEntries(values.map((kv) => [kv.key, anyValue(kv.value)]));
}

/**
 * A span as MLflow's Span.to_dict writes it: ids in base64, each attribute's value as JSON
 * text (MLflow's own `mlflow.*` attributes come as JSON text already), and the trace's id in
 * `mlflow.traceRequestId`, which MLflow's client needs to read the span back.
 */
function mlflowSpan(span: OtlpSpan, traceId: string): Span {
  const attributes: Record<string, Json> = { "mlflow.traceRequestId": JSON.stringify(traceId) };
  for (const [key, value] of Object.entries(attributesOf(span.attributes))) attributes[key] = key.startsWith("mlflow.") && typeof value === "string" ? value : JSON.stringify(value);
  return {
    trace_id: base64(span.traceId),
    span_id: base64(span.spanId),
    parent_span_id: span.parentSpanId.length ? base64(span.parentSpanId) : null,
    name: span.name,
    start_time_unix_nano: Number(span.startTimeUnixNano),
    end_time_unix_nano: Number(span.endTimeUnixNano),
    events: span.events.map((e) => ({ name: e.name, time_unix_nano: Number(e.timeUnixNano), attributes: attributesOf(e.attributes) })),
    status: { code: STATUS_CODES[span.status?.code ?? Status_StatusCode.UNSET] ?? "STATUS_CODE_UNSET", message: span.status?.message ?? "" },
    attributes,
  };
}

function decode(body: Buffer, contentType: string) {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  try {
    if (type === "application/json") return { json: true, request: fromJson(ExportTraceServiceRequestSchema, withBase64Ids(JSON.parse(body.toString("utf8"))) as JsonValue, { ignoreUnknownFields: true }) };
    if (type === "application/x-protobuf" || type === "application/protobuf" || type === "") return { json: false, request: fromBinary(ExportTraceServiceRequestSchema, body) };
  } catch (e) {
    throw invalidArgument("INVALID_OTLP", `the body is not an OTLP ExportTraceServiceRequest: ${printable((e as Error).message).slice(0, 200)}`);
  }
  throw invalidArgument("INVALID_OTLP", `OTLP comes as application/x-protobuf or application/json, not ${printable(type).slice(0, 80)}`);
}

/** The spans of each trace in the request, by MLflow's trace id (`tr-` and OTel's trace id in hex). */
function spansByTrace(request: ReturnType<typeof decode>["request"]): Map<string, { spans: Span[]; service?: string }> {
  const traces = new Map<string, { spans: Span[]; service?: string }>();
  for (const resourceSpans of request.resourceSpans) {
    const service = attributesOf(resourceSpans.resource?.attributes ?? [])["service.name"];
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const span of scopeSpans.spans) {
        if (span.traceId.length !== 16 || span.spanId.length !== 8) throw invalidArgument("INVALID_OTLP", `span ${printable(span.name).slice(0, 80)} has a trace id of ${span.traceId.length} bytes and a span id of ${span.spanId.length}, not 16 and 8`);
        const traceId = `tr-${hex(span.traceId)}`;
        const entry = traces.get(traceId) ?? { spans: [], ...(typeof service === "string" && { service }) };
        entry.spans.push(mlflowSpan(span, traceId));
        traces.set(traceId, entry);
      }
    }
  }
  return traces;
}

/** What a trace's info says of its spans: its start and length, its state, its name and previews from its root. */
function infoOf(spans: readonly Span[]) {
  const ids = new Set(spans.map((s) => s.span_id));
  // The root; until it comes, a span whose parent has not come yet.
  const root = spans.find((s) => s.parent_span_id === null) ?? spans.find((s) => !ids.has(s.parent_span_id as string)) ?? spans[0]!;
  // Not Math.min(...spans): a trace of a hundred thousand spans would overflow the stack.
  const start = spans.reduce((at, s) => Math.min(at, Number(s.start_time_unix_nano)), Infinity);
  const end = spans.reduce((at, s) => Math.max(at, Number(s.end_time_unix_nano)), -Infinity);
  const attribute = (key: string) => {
    const v = (root.attributes as Record<string, Json>)[key];
    return typeof v === "string" ? v.slice(0, PREVIEW_CHARS) : "";
  };
  return {
    requestTime: Math.floor(start / 1e6),
    executionMs: Math.max(0, Math.round((end - start) / 1e6)),
    state: spanField(root, "status") === "ERROR" ? "ERROR" : "OK",
    name: String(root.name ?? ""),
    requestPreview: attribute("mlflow.spanInputs"),
    responsePreview: attribute("mlflow.spanOutputs"),
  } as const;
}

/** Adds the spans to the trace (made from them when new): its spans' file rewritten with them, its info made to fit. */
async function addSpans(deps: TrackingDeps, project: string, experiment: string, traceId: string, spans: Span[], service: string | undefined): Promise<void> {
  const info = infoOf(spans);
  const fresh: TraceRecord = {
    traceId,
    experiment,
    clientRequestId: "",
    requestTime: info.requestTime,
    executionMs: info.executionMs,
    state: info.state,
    requestPreview: info.requestPreview,
    responsePreview: info.responsePreview,
    metadata: { "mlflow.trace_schema.version": "3", [SOURCE_METADATA]: "otlp", ...(service && { "otel.service.name": service }) },
    tags: { "mlflow.traceName": info.name },
    assessments: [],
    linkedRuns: [],
    files: {},
  };
  const current = await saveTrace(deps, project, fresh, () => undefined);
  // Spans an MLflow client uploaded as a blob come along into the document (over what an
  // earlier, smaller upload left there).
  const uploaded = current.files[TRACE_DATA_FILE]?.kind === "file" ? await spansOf(deps, current) : [];
  const file = await writeSpansDoc(deps, project, traceId, (had) => {
    const bySpanId = new Map(parseSpans(had).map((s) => [s.span_id, s]));
    for (const s of [...uploaded, ...spans]) bySpanId.set(s.span_id, s);
    return JSON.stringify({ spans: [...bySpanId.values()] });
  });
  await addTraceFile(deps, project, traceId, TRACE_DATA_FILE, file, (t, all) => {
    const whole = infoOf(all);
    // A trace an MLflow client started keeps what the client said of it.
    const fromSpans = t.metadata[SOURCE_METADATA] === "otlp";
    return fromSpans ? { executionMs: whole.executionMs, state: whole.state, requestPreview: whole.requestPreview, responsePreview: whole.responsePreview, tags: { ...t.tags, "mlflow.traceName": whole.name } } : {};
  });
}

/** POST /v1/traces: every trace's spans stored, answered as OTLP answers (an empty ExportTraceServiceResponse). */
async function exportTraces(deps: TrackingDeps, { project, req, res }: MlflowCall): Promise<undefined> {
  const { json, request } = decode(await readBody(req, MAX_BODY_BYTES), String(req.headers["content-type"] ?? ""));
  const header = req.headers[EXPERIMENT_HEADER];
  const experiment = await activeExperimentById(deps, project, (Array.isArray(header) ? header[0] : header) || DEFAULT_EXPERIMENT);
  for (const [traceId, { spans, service }] of spansByTrace(request)) await addSpans(deps, project, experiment.name, traceId, spans, service);
  const answer = json ? Buffer.from("{}") : Buffer.from(toBinary(ExportTraceServiceResponseSchema, create(ExportTraceServiceResponseSchema)));
  res.writeHead(200, { "content-type": json ? "application/json" : "application/x-protobuf", "content-length": String(answer.length) });
  res.end(answer);
  return undefined;
}

export function otlpEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return { "v1/traces": { method: "POST", rawBody: true, role: "write", answer: (c) => exportTraces(deps, c) } };
}
