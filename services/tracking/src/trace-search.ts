import { invalidArgument, type Json } from "@kiln/core";
import { scanMerged } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { experimentIdOf } from "./mlflow-ids.js";
import { compareLookups, matchesAll, MAX_MERGED_EXPERIMENTS, pageOf, parseOrder, parseSearchFilter, sortBy, startOrderOf, type Clause, type Lookup, type OrderKey } from "./mlflow-search.js";
import { spansMatch } from "./mlflow-trace-spans.js";
import { ARTIFACT_LOCATION_TAG, experimentPrefix, SOURCE_RUN_METADATA, traceArtifactUri, tracesOf } from "./mlflow-trace-store.js";
import { collections, type TraceRecord } from "./records.js";

const TRACE_NAME_TAG = "mlflow.traceName";
const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 500;
/** Newest first, as MLflow lists traces when not told otherwise; on the same start, as the traces' keys order them. */
const NEWEST_FIRST: OrderKey[] = [
  { kind: "attribute", key: "timestamp_ms", descending: true },
  { kind: "attribute", key: "request_id", descending: true },
];
/** Ordered by timestamp_ms ASC: the traces' keys read forward. */
const OLDEST_FIRST: OrderKey[] = [
  { kind: "attribute", key: "timestamp_ms", descending: false },
  { kind: "attribute", key: "request_id", descending: false },
];

export interface TraceQuery {
  /** MLflow's trace filter. */
  filter: string;
  /** MLflow's order_by entries. */
  orderBy: Json[];
  pageSize?: number;
  pageToken?: string;
}

/**
 * The traces of the experiments that meet MLflow's trace filter, ordered and paged, for
 * MLflow's SearchTracesV3 and Kiln's ListTraces alike. Newest first (the usual search) or
 * oldest, each experiment's traces are read in key order (their start's), merged, until
 * the page is full; in another order all of them are read. Either way `trace.text` reads
 * the spans' files of those the other clauses keep.
 */
export async function searchTraces(deps: TrackingDeps, experiments: readonly string[], query: TraceQuery): Promise<{ items: TraceRecord[]; next?: string }> {
  const pageSize = query.pageSize ?? DEFAULT_PAGE_SIZE;
  if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw invalidArgument("INVALID_MAX_RESULTS", `a page of traces is 1 to ${MAX_PAGE_SIZE}, not ${pageSize}`);
  const clauses = parseSearchFilter(query.filter, "traces");
  const requested = parseOrder(query.orderBy, "traces");
  const startOrder = startOrderOf(requested, "timestamp_ms");
  if (startOrder && experiments.length <= MAX_MERGED_EXPERIMENTS) {
    const order = startOrder === "newest" ? NEWEST_FIRST : OLDEST_FIRST;
    const page = await scanMerged(
      collections(deps).traces,
      { prefixes: experiments.map(experimentPrefix), pageSize, pageToken: query.pageToken ?? "", filterText: `traces in start order: ${query.filter}`, reverse: startOrder === "newest" },
      // `trace.text` reads the spans of the traces the other clauses keep, one trace at a time: a trace's may be tens of MiB.
      async (_, rows) => {
        const kept: (TraceRecord | undefined)[] = [];
        for (const { value } of rows) kept.push(traceMatches(clauses, value) && (await spansMatch(deps, value, clauses)) ? value : undefined);
        return kept;
      },
      (a, b) => compareLookups(order, traceLookup(a), traceLookup(b)),
    );
    return { items: page.items, ...(page.nextPageToken && { next: page.nextPageToken }) };
  }
  const order = [...requested, ...(startOrder === "oldest" ? OLDEST_FIRST : NEWEST_FIRST)];
  const found: TraceRecord[] = [];
  for (const experiment of experiments) for (const t of await tracesOf(deps, experiment)) if (traceMatches(clauses, t)) found.push(t);
  const spanClauses = clauses.filter((c) => c.kind === "span");
  const matching = spanClauses.length ? await filterBySpans(deps, found, spanClauses) : found;
  sortBy(matching, order, traceLookup);
  return pageOf(matching, pageSize, query.pageToken);
}



/** The runs a trace belongs to, as MLflow's run ids: the one its metadata names and those linked to it. */
export function runIdsOf(t: TraceRecord): string[] {
  return [...new Set([t.metadata[SOURCE_RUN_METADATA], ...t.linkedRuns].filter((r): r is string => r !== undefined && r !== ""))];
}

function traceLookup(t: TraceRecord): Lookup {
  return (kind, key) => {
    switch (kind) {
      case "tag":
        return key === ARTIFACT_LOCATION_TAG ? traceArtifactUri(experimentIdOf(t.experiment), t.traceId) : t.tags[key];
      case "metadata":
        return t.metadata[key];
      case "feedback":
      case "expectation":
        return assessmentValue(t, kind, key);
      case "attribute":
        switch (key) {
          case "request_id":
          case "trace_id":
            return t.traceId;
          case "status":
          case "state":
            return t.state;
          case "client_request_id":
            return t.clientRequestId || undefined;
          case "name":
            return t.tags[TRACE_NAME_TAG];
          case "run_id":
            return t.metadata[SOURCE_RUN_METADATA];
          case "experiment_id":
            return experimentIdOf(t.experiment);
          case "timestamp_ms":
            return t.requestTime;
          case "execution_time_ms":
            return t.executionMs;
          case "end_time_ms":
            return t.requestTime + t.executionMs;
        }
    }
    return undefined;
  };
}

/** The value of the trace's newest valid assessment of that kind and name, as text (JSON for what is not a string). */
function assessmentValue(t: TraceRecord, kind: "feedback" | "expectation", name: string): string | undefined {
  const found = t.assessments.filter((a) => a.assessment_name === name && a.valid !== false && typeof a[kind] === "object" && a[kind] !== null).at(-1);
  if (!found) return undefined;
  const value = found[kind] as Record<string, Json>;
  const serialized = value.serialized_value as Record<string, Json> | undefined;
  const v = value.value !== undefined ? value.value : serialized?.value;
  return typeof v === "string" ? v : v === undefined ? undefined : JSON.stringify(v);
}

/** Whether a trace meets the clauses: `run_id` is the run its metadata names or any run linked to it. */
function traceMatches(clauses: readonly Clause[], t: TraceRecord): boolean {
  const lookup = traceLookup(t);
  return clauses.every((c) => {
    if (c.kind === "span") return true; // read from the spans after
    if (c.kind !== "attribute" || c.key !== "run_id") return matchesAll([c], lookup);
    const runs = runIdsOf(t);
    return c.op === "!=" || c.op === "NOT IN" ? runs.length > 0 && runs.every((r) => matchesAll([c], () => r)) : runs.some((r) => matchesAll([c], () => r));
  });
}

async function filterBySpans(deps: TrackingDeps, traces: TraceRecord[], clauses: Clause[]): Promise<TraceRecord[]> {
  const kept: TraceRecord[] = [];
  for (const t of traces) if (await spansMatch(deps, t, clauses)) kept.push(t);
  return kept;
}

