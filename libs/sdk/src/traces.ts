import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Trace, TraceAssessment, TraceSpan } from "@kiln/proto/kiln/tracking/v1/tracking_pb";

/** A traced call, as MLflow's tracing logged it through MLflow's API. */
export interface TraceSummary {
  traceId: string;
  /** projects/{p}/experiments/{e}/traces/{trace_id} */
  name: string;
  /** OK, ERROR, IN_PROGRESS or STATE_UNSPECIFIED. */
  state: string;
  requestTime?: Date;
  executionMs: number;
  /** The call's inputs and outputs as JSON text, as the client previewed them. */
  request: string;
  response: string;
  tags: Record<string, string>;
  metadata: Record<string, string>;
  /** The runs it was made in or linked to. */
  runs: string[];
  assessments: TraceAssessmentInfo[];
}

export interface TraceAssessmentInfo {
  assessmentId: string;
  name: string;
  kind: "feedback" | "expectation";
  value: unknown;
  rationale: string;
  source: string;
  valid: boolean;
  createTime?: Date;
  spanId: string;
}

export interface TraceSpanInfo {
  spanId: string;
  /** "" for the root span. */
  parentSpanId: string;
  name: string;
  type: string;
  /** OK, ERROR or UNSET. */
  status: string;
  statusMessage: string;
  startTime?: Date;
  endTime?: Date;
  inputs: unknown;
  outputs: unknown;
  /** Its other attributes, parsed from their JSON. */
  attributes: Record<string, unknown>;
}

export interface TraceDetail extends TraceSummary {
  spans: TraceSpanInfo[];
}

/** JSON text as a value; text that is not JSON as itself, "" as undefined. */
function parsed(text: string): unknown {
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function assessment(a: TraceAssessment): TraceAssessmentInfo {
  return {
    assessmentId: a.assessmentId,
    name: a.name,
    kind: a.kind === "feedback" ? "feedback" : "expectation",
    value: parsed(a.value),
    rationale: a.rationale,
    source: a.source,
    valid: a.valid,
    createTime: a.createTime && timestampDate(a.createTime),
    spanId: a.spanId,
  };
}

function span(s: TraceSpan): TraceSpanInfo {
  return {
    spanId: s.spanId,
    parentSpanId: s.parentSpanId,
    name: s.name,
    type: s.spanType,
    status: s.status,
    statusMessage: s.statusMessage,
    startTime: s.startTime && timestampDate(s.startTime),
    endTime: s.endTime && timestampDate(s.endTime),
    inputs: parsed(s.inputs),
    outputs: parsed(s.outputs),
    attributes: Object.fromEntries(Object.entries(s.attributes).map(([k, v]) => [k, parsed(v)])),
  };
}

export function traceSummary(t: Trace): TraceSummary {
  return {
    traceId: t.name.slice(t.name.lastIndexOf("/") + 1),
    name: t.name,
    state: t.state,
    requestTime: t.requestTime && timestampDate(t.requestTime),
    executionMs: Number(t.executionMs),
    request: t.requestPreview,
    response: t.responsePreview,
    tags: t.tags,
    metadata: t.metadata,
    runs: t.runs,
    assessments: t.assessments.map(assessment),
  };
}

export function traceDetail(t: Trace): TraceDetail {
  return { ...traceSummary(t), spans: t.spans.map(span) };
}

/**
 * The spans depth first, each under its parent and siblings in start order, with its depth
 * (0 for a root; a span whose parent is missing is a root).
 */
export function spansInTreeOrder(spans: readonly TraceSpanInfo[]): { span: TraceSpanInfo; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, TraceSpanInfo[]>();
  for (const s of spans) {
    const parent = s.parentSpanId && ids.has(s.parentSpanId) ? s.parentSpanId : "";
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const ordered: { span: TraceSpanInfo; depth: number }[] = [];
  const visit = (parent: string, depth: number) => {
    const under = [...(children.get(parent) ?? [])].sort((a, b) => (a.startTime?.getTime() ?? 0) - (b.startTime?.getTime() ?? 0));
    for (const span of under) {
      ordered.push({ span, depth });
      if (span.spanId) visit(span.spanId, depth + 1);
    }
  };
  visit("", 0);
  return ordered;
}
