import type { Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { artifactContent } from "./mlflow-artifacts.js";
import { matchesAll, type Clause } from "./mlflow-search.js";
import type { TraceRecord } from "./records.js";

/** The file MLflow's clients upload a trace's spans in. */
export const TRACE_DATA_FILE = "traces.json";
export const SPAN_TYPE_ATTRIBUTE = "mlflow.spanType";

export type Span = Record<string, Json>;

/** The trace's spans as MLflow's client wrote them (`{spans: [...]}`); none when not uploaded, or not readable. */
export async function spansOf(deps: TrackingDeps, t: TraceRecord): Promise<Span[]> {
  const file = t.files[TRACE_DATA_FILE];
  if (!file) return [];
  const pieces: Buffer[] = [];
  for await (const bytes of artifactContent(deps, file).bytes()) pieces.push(Buffer.from(bytes));
  try {
    const data = JSON.parse(Buffer.concat(pieces).toString("utf8")) as { spans?: unknown };
    return Array.isArray(data.spans) ? data.spans.filter((s): s is Span => typeof s === "object" && s !== null) : [];
  } catch {
    return [];
  }
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

/** Whether each span clause is met by some span of the trace. */
export async function spansMatch(deps: TrackingDeps, t: TraceRecord, clauses: readonly Clause[]): Promise<boolean> {
  const spans = await spansOf(deps, t);
  return clauses.every((c) => spans.some((span) => matchesAll([c], () => spanField(span, c.key))));
}
