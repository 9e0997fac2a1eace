import type { Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { artifactContent } from "./artifact-content.js";
import { matchesAll, type Clause } from "./mlflow-search.js";
import { changeTrace } from "./mlflow-trace-store.js";
import type { SpanKey, StoredArtifact, TraceRecord } from "./records.js";

/** The file MLflow's clients upload a trace's spans in. */
export const TRACE_DATA_FILE = "traces.json";
export const SPAN_TYPE_ATTRIBUTE = "mlflow.spanType";

export type Span = Record<string, Json>;

/** Spans as MLflow's client writes them (`{spans: [...]}`); none from a file that is not that. */
async function readSpans(deps: TrackingDeps, file: StoredArtifact): Promise<Span[]> {
  const pieces: Buffer[] = [];
  for await (const bytes of artifactContent(deps, file).bytes()) pieces.push(Buffer.from(bytes));
  try {
    const data = JSON.parse(Buffer.concat(pieces).toString("utf8")) as { spans?: unknown };
    return Array.isArray(data.spans) ? data.spans.filter((s): s is Span => typeof s === "object" && s !== null) : [];
  } catch {
    return [];
  }
}

/** The trace's spans; none when its client uploaded none. */
export async function spansOf(deps: TrackingDeps, t: TraceRecord): Promise<Span[]> {
  const file = t.files[TRACE_DATA_FILE];
  return file ? readSpans(deps, file) : [];
}

/**
 * Records a file uploaded to the trace's artifact location. For its spans' file, the
 * distinct names, types and statuses of the spans are kept in the trace too, so searches by
 * them read no file.
 */
export async function addTraceFile(deps: TrackingDeps, project: string, traceId: string, path: string, file: StoredArtifact): Promise<void> {
  const spanKeys = path === TRACE_DATA_FILE ? distinctKeys(await readSpans(deps, file)) : undefined;
  await changeTrace(deps, project, traceId, (t) => ({ ...t, files: { ...t.files, [path]: file }, ...(spanKeys && { spanKeys }) }));
}

export function distinctKeys(spans: Span[]): SpanKey[] {
  const keys = new Map<string, SpanKey>();
  for (const span of spans) {
    const key = { name: spanField(span, "name") ?? "", type: spanField(span, "type") ?? "", status: spanField(span, "status") ?? "" };
    keys.set(JSON.stringify(key), key);
  }
  return [...keys.values()];
}

/**
 * What a span is searched by: its name, type (the attribute `mlflow.spanType`, stored as
 * JSON), status code (OK, ERROR, UNSET) and content (the whole span as JSON text).
 */
export function spanField(span: Span, key: "name" | "type" | "status" | "content" | string): string | undefined {
  switch (key) {
    case "name":
      return typeof span.name === "string" ? span.name : undefined;
    case "type": {
      const attributes = span.attributes as Record<string, Json> | undefined;
      const raw = attributes?.[SPAN_TYPE_ATTRIBUTE];
      if (typeof raw !== "string") return undefined;
      try {
        const parsed: unknown = JSON.parse(raw);
        return typeof parsed === "string" ? parsed : raw;
      } catch {
        return raw;
      }
    }
    case "status": {
      const code = (span.status as Record<string, Json> | undefined)?.code;
      return typeof code === "string" ? code.replace(/^STATUS_CODE_/, "") : undefined;
    }
    case "content":
      return JSON.stringify(span);
  }
  return undefined;
}

/** Whether each span clause but `content` is met by some span of the trace, read from the keys it keeps. */
export function spanKeysMatch(t: TraceRecord, clauses: readonly Clause[]): boolean {
  return clauses.every((c) => c.kind !== "span" || c.key === "content" || (t.spanKeys ?? []).some((k) => matchesAll([c], () => k[c.key as keyof SpanKey])));
}

/** Whether each span clause is met by some span of the trace: `content` by its spans' file. */
export async function spansMatch(deps: TrackingDeps, t: TraceRecord, clauses: readonly Clause[]): Promise<boolean> {
  if (!spanKeysMatch(t, clauses)) return false;
  const content = clauses.filter((c) => c.kind === "span" && c.key === "content");
  if (!content.length) return true;
  const spans = await spansOf(deps, t);
  return content.every((c) => spans.some((span) => matchesAll([c], () => spanField(span, "content"))));
}
