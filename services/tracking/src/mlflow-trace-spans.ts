import { Code } from "@connectrpc/connect";
import { failedPrecondition, isKilnError, readBody, resourceExhausted, type HttpRequest, type Json } from "@kiln/core";
import type { TrackingDeps } from "./deps.js";
import { artifactContent, spansDocBytes } from "./artifact-content.js";
import { storePieces } from "./blob-pieces.js";
import { blobsOf, trackingGarbage } from "./garbage.js";
import { matchesAll, type Clause } from "./mlflow-search.js";
import { changeTrace, spansKey } from "./mlflow-trace-store.js";
import { collections, TRACE_SPANS_KIND, type SpanKey, type SpansDoc, type StoredArtifact, type TraceRecord } from "./records.js";

/** The file MLflow's clients upload a trace's spans in. */
export const TRACE_DATA_FILE = "traces.json";
export const SPAN_TYPE_ATTRIBUTE = "mlflow.spanType";

export type Span = Record<string, Json>;

/** Spans as MLflow's client writes them (`{spans: [...]}`); none from a text that is not that. */
export function parseSpans(text: string): Span[] {
  try {
    const data = JSON.parse(text) as { spans?: unknown };
    return Array.isArray(data.spans) ? data.spans.filter((s): s is Span => typeof s === "object" && s !== null) : [];
  } catch {
    return [];
  }
}

/** A file's text as it is now (a spans' document may have grown since its size was noted). */
function readText(deps: TrackingDeps, file: StoredArtifact): Promise<string> {
  return utf8Of(artifactContent(deps, file).bytes());
}

async function utf8Of(bytes: AsyncIterable<Uint8Array>): Promise<string> {
  const pieces: Buffer[] = [];
  for await (const piece of bytes) pieces.push(Buffer.from(piece));
  return Buffer.concat(pieces).toString("utf8");
}

/** The trace's spans; none when its client uploaded none. */
export async function spansOf(deps: TrackingDeps, t: TraceRecord): Promise<Span[]> {
  const file = t.files[TRACE_DATA_FILE];
  return file ? parseSpans(await readText(deps, file)) : [];
}

/** A trace's spans' file up to this size is kept as a document's text; a bigger upload is a blob, and spans added beyond it go to blobs named by the document. */
export const MAX_SPANS_DOC_BYTES = 4 * 1024 * 1024;
/** What a trace's spans may add up to, as OpenTelemetry's exports add to them (each export rewrites them whole). */
export const MAX_SPANS_BYTES = 64 * 1024 * 1024;

/**
 * Sets a trace's spans' file, kept as a document: `next` gets the text kept now ("" for none)
 * and returns the new one, by a compare-and-set on the document, so writers of one trace's
 * spans at once (OpenTelemetry's exports) lose none of them. A text over MAX_SPANS_DOC_BYTES
 * is stored in blobs that the document names; those of a write that lost the race are
 * collected after the grace period, as an upload never logged is.
 */
export async function writeSpansDoc(deps: TrackingDeps, project: string, traceId: string, next: (had: string) => string): Promise<StoredArtifact> {
  const docs = collections(deps).traceSpans;
  const key = spansKey(project, traceId);
  for (let attempt = 0; attempt < 50; attempt++) {
    const found = await docs.get(key);
    const text = next(found ? await spansDocText(deps, found.value) : "");
    const size = Buffer.byteLength(text);
    if (size > MAX_SPANS_BYTES) throw resourceExhausted("SPANS_TOO_LARGE", `a trace's spans are at most ${MAX_SPANS_BYTES} bytes of JSON, not ${size}`);
    const doc: SpansDoc = size <= MAX_SPANS_DOC_BYTES ? { text } : { text: "", pieces: (await storePieces(deps, [Buffer.from(text, "utf8")])).pieces };
    try {
      if (found) await docs.update(key, doc, found.rev);
      else await docs.create(key, doc);
      return spansArtifact(key, doc, size);
    } catch (e) {
      if (!isKilnError(e, Code.Aborted) && !isKilnError(e, Code.AlreadyExists)) throw e;
    }
  }
  throw failedPrecondition("TRACE_CONTENTION", `the spans of trace ${traceId} are changing too often; try again`);
}

function spansArtifact(key: string, doc: SpansDoc, size: number): StoredArtifact {
  return { kind: TRACE_SPANS_KIND, ref: key, name: TRACE_DATA_FILE, size, mediaType: "application/json", ...(doc.pieces && { chunks: doc.pieces }) };
}

async function spansDocText(deps: TrackingDeps, doc: SpansDoc): Promise<string> {
  return doc.pieces ? utf8Of(spansDocBytes(deps, doc)) : doc.text;
}

/** A spans' document as it is now, as the trace's file names it; undefined when it is gone. */
async function currentSpansDoc(deps: TrackingDeps, key: string): Promise<{ file: StoredArtifact; text: string } | undefined> {
  const found = await collections(deps).traceSpans.get(key);
  if (!found) return undefined;
  const text = await spansDocText(deps, found.value);
  return { file: spansArtifact(key, found.value, Buffer.byteLength(text)), text };
}

/** An upload of the trace's spans' file that fits a document, kept as one (no blob write and fsync); undefined for any other. */
export async function storeTraceUpload(deps: TrackingDeps, project: string, traceId: string, path: string, req: HttpRequest): Promise<StoredArtifact | undefined> {
  const declared = Number(req.headers["content-length"]);
  if (path !== TRACE_DATA_FILE || !Number.isSafeInteger(declared) || declared > MAX_SPANS_DOC_BYTES) return undefined;
  const text = (await readBody(req, MAX_SPANS_DOC_BYTES)).toString("utf8");
  return writeSpansDoc(deps, project, traceId, () => text);
}

/**
 * Records a file of the trace's (its spans' file, or another a client uploaded). For the
 * spans' file, the distinct names, types and statuses of the spans, read from the file as
 * it is now, are kept in the trace too, so searches by them read no file; `derive` may set
 * more of the trace from the spans. A blob the file replaces goes to the garbage marks.
 */
export async function addTraceFile(deps: TrackingDeps, project: string, traceId: string, path: string, file: StoredArtifact, derive?: (t: TraceRecord, spans: Span[]) => Partial<TraceRecord>): Promise<void> {
  let replaced: StoredArtifact | undefined;
  let kept = file;
  await changeTrace(deps, project, traceId, async (t) => {
    replaced = t.files[path];
    if (path !== TRACE_DATA_FILE) return { ...t, files: { ...t.files, [path]: file } };
    // A spans' document is noted as it is now, not as this writer left it: writes of one trace's spans that race note the last.
    const now = file.kind === TRACE_SPANS_KIND ? await currentSpansDoc(deps, file.ref) : undefined;
    const text = now ? now.text : await readText(deps, file);
    kept = now ? now.file : { ...file, size: Buffer.byteLength(text) };
    const spans = parseSpans(text);
    return { ...t, ...derive?.(t, spans), files: { ...t.files, [path]: kept }, spanKeys: distinctKeys(spans) };
  });
  if (!replaced) return;
  const still = new Set(blobsOf({ kept }));
  const gone = blobsOf({ replaced }).filter((sha256) => !still.has(sha256));
  if (gone.length) await trackingGarbage(deps).mark(gone);
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
export function spanField(span: Span, key: string): string | undefined {
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
function spanKeysMatch(t: TraceRecord, clauses: readonly Clause[]): boolean {
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
