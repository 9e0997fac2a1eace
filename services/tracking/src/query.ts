import { create } from "@bufbuild/protobuf";
import { decodePageToken, decodePositionToken, encodePageToken, encodePositionToken, invalidArgument, pageSize, resourceExhausted } from "@kiln/core";
import { tableToIpc } from "@kiln/data";
import {
  GetMetricHistoryResponseSchema,
  MetricPointSchema,
  MetricSummarySchema,
  QueryEventsResponseSchema,
  RunSummarySchema,
  SearchRunsResponseSchema,
  SummarizeRunsResponseSchema,
  type GetMetricHistoryRequest,
  type GetMetricHistoryResponse,
  type MetricPoint,
  type QueryEventsRequest,
  type QueryEventsResponse,
  type RunSummary,
  type SearchRunsRequest,
  type SearchRunsResponse,
  type SummarizeRunsRequest,
  type SummarizeRunsResponse,
} from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { parseRequestFilter, type RunSelector } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { eventsTable } from "./events-table.js";
import { getExperiment } from "./experiments.js";
import { metricSeries, sampledPoints } from "./metric-series.js";
import { idOfExperiment } from "./mlflow-experiments.js";
import { findRuns } from "./mlflow-run-search.js";
import { parseExperimentName, parseRunName, runKey } from "./names.js";
import { collections, runToProto, type RunRecord } from "./records.js";
import { getRun } from "./runs.js";
import { parseRuns } from "./runs-selector.js";

// Pages of 4,096 rows (about 200 KB of IPC) read as fast as 16,384 did, with a quarter of
// the memory in the buffers each page passes through (columns, IPC, message, frame).
const ROWS_PER_PAGE = 4_096;

/**
 * Events as Arrow record batches, a page at a time: the next page is read only once the
 * stream has taken this one, so a million rows never sit in memory at once.
 */
export async function* queryEvents(deps: TrackingDeps, req: QueryEventsRequest): AsyncGenerator<QueryEventsResponse> {
  const { name } = parseExperimentName(req.parent);
  const { record } = await getExperiment(deps, name);
  const filter = req.filter ? parseRequestFilter(req.filter) : undefined;
  const runs = parseRuns(req.runs, record.latestRun);
  for await (const page of deps.events.query({ experiment: name, runs, filter, pageSize: ROWS_PER_PAGE })) {
    yield create(QueryEventsResponseSchema, { arrowIpc: tableToIpc(eventsTable(name, page)), rowCount: BigInt(page.length) });
  }
}

/** Points a GetMetricHistory answer holds at most: about 7.5 MB, inside the smallest message limit (8 MiB). */
export const MAX_HISTORY_PAGE = 250_000;

/** One metric's points in a run, in step order (logging order within a step): in pages, or sampled for drawing. */
export async function metricHistory(deps: TrackingDeps, req: GetMetricHistoryRequest): Promise<GetMetricHistoryResponse> {
  const { experiment, run } = parseRunName(req.run);
  if (req.pageSize < 0) throw invalidArgument("INVALID_PAGE_SIZE", "page_size must not be negative");
  if (req.maxPoints < 0) throw invalidArgument("INVALID_MAX_POINTS", "max_points must not be negative");
  const binding = JSON.stringify([req.run, req.key, req.maxPoints]);
  const offset = decodePositionToken(req.pageToken, binding);
  await getRun(deps, experiment, run);
  const series = await metricSeries(deps, experiment, run, req.key);
  const sample = sampledPoints(series, req.maxPoints);
  const count = sample?.length ?? series.length;
  if (req.pageSize === 0 && count > MAX_HISTORY_PAGE) {
    throw resourceExhausted(
      "HISTORY_TOO_LARGE",
      `metric "${req.key}" of ${req.run} has ${count} points, more than one answer holds (${MAX_HISTORY_PAGE}): ask for pages (page_size) or a sample to draw (max_points)`,
    );
  }
  const end = Math.min(count, offset + Math.min(req.pageSize || MAX_HISTORY_PAGE, MAX_HISTORY_PAGE));
  const points: MetricPoint[] = [];
  for (let k = offset; k < end; k++) {
    const i = sample ? sample[k]! : k;
    points.push(create(MetricPointSchema, { step: BigInt(series.step[i]!), value: series.value[i]!, dt: timestampFromMs(series.dt[i]!) }));
  }
  return create(GetMetricHistoryResponseSchema, {
    points,
    nextPageToken: end < count ? encodePositionToken(end, binding) : "",
    totalSize: BigInt(series.length),
  });
}

/**
 * Per run: latest/min/max/count of each metric and the params, for comparing runs side by
 * side (from the event store's summaries): in pages in run number order, or every selected
 * run at once when the answer fits a message.
 */
export async function summarizeRuns(deps: TrackingDeps, req: SummarizeRunsRequest): Promise<SummarizeRunsResponse> {
  const { name } = parseExperimentName(req.parent);
  if (req.pageSize < 0) throw invalidArgument("INVALID_PAGE_SIZE", "page_size must not be negative");
  const bound = JSON.stringify([req.parent, req.runs]);
  const after = decodePositionToken(req.pageToken, bound);
  const { record } = await getExperiment(deps, name);
  const selector = parseRuns(req.runs, record.latestRun, "all");
  if (req.pageSize === 0 && !req.pageToken) {
    // Every selected run that exists gets a summary, also one that logged nothing.
    const runs = await runSummaries(deps, name, await selectedRuns(deps, name, selector), selector);
    checkFits(runs, deps.limits.maxMessageBytes);
    return create(SummarizeRunsResponseSchema, { runs });
  }
  const page = await selectedRunsPage(deps, name, selector, after, pageSize(req.pageSize));
  return create(SummarizeRunsResponseSchema, {
    runs: await runSummaries(deps, name, page.runs, { runs: page.runs.map((r) => r.run) }),
    nextPageToken: page.next ? encodePositionToken(page.next, bound) : "",
  });
}

/** Refuses summaries that would not fit one message, by a generous count of their bytes. */
function checkFits(summaries: readonly RunSummary[], maxBytes: number): void {
  const text = (v: string) => Buffer.byteLength(v) + 4;
  let bytes = 0;
  for (const s of summaries) {
    bytes += 400; // the run's own fields: its name, status, times, host, creator
    for (const [k, v] of Object.entries(s.run?.tags ?? {})) bytes += text(k) + text(v);
    for (const k of Object.keys(s.metrics)) bytes += text(k) + 56;
    for (const [k, v] of Object.entries(s.params)) bytes += text(k) + text(v);
  }
  if (bytes > maxBytes) {
    const shown = (n: number) => n.toLocaleString("en");
    throw resourceExhausted("SUMMARY_TOO_LARGE", `the summaries of ${summaries.length} runs come to about ${shown(bytes)} bytes, over the message limit (${shown(maxBytes)}): ask for pages (page_size)`);
  }
}

/**
 * The runs that MLflow's run filter keeps, in MLflow's order, a page at a time, with their
 * summaries. The page token is MLflow's search's, bound to the filter and order (AIP-158).
 */
export async function searchRunSummaries(deps: TrackingDeps, req: SearchRunsRequest): Promise<SearchRunsResponse> {
  const { name } = parseExperimentName(req.parent);
  const { record } = await getExperiment(deps, name);
  const bound = JSON.stringify([req.filter, req.orderBy]);
  const page = await findRuns(deps, [{ id: idOfExperiment(record), record }], {
    filter: req.filter,
    orderBy: req.orderBy,
    view: "all",
    maxResults: pageSize(req.pageSize),
    pageToken: decodePageToken(req.pageToken, bound),
  });
  const found = page.items.map((f) => f.run);
  return create(SearchRunsResponseSchema, {
    runs: await runSummaries(deps, name, found, { runs: found.map((r) => r.run) }),
    nextPageToken: page.next ? encodePageToken(page.next, bound) : "",
  });
}

/** A summary of each run, in the order given, from the event store's summaries of `selected` (the runs, or more). */
async function runSummaries(deps: TrackingDeps, experiment: string, runs: readonly RunRecord[], selected: RunSelector): Promise<RunSummary[]> {
  if (!runs.length) return [];
  const summaries = new Map<number, RunSummary>();
  for (const run of runs) summaries.set(run.run, create(RunSummarySchema, { run: runToProto(run) }));
  for (const e of await deps.events.summarize({ experiment, runs: selected, events: ["metric", "param"] })) {
    const s = summaries.get(e.run);
    if (!s) continue;
    if (e.event === "param") {
      s.params[e.key] = e.valueType === "number" ? JSON.stringify(e.number) : e.valueType === "text" ? JSON.stringify(e.text) : (e.text ?? "null");
    } else if (e.numbers > 0) {
      // The latest (highest step, then newest) when it is a number; min and max leave NaN out.
      const last = e.valueType === "number" ? e.number! : NaN;
      s.metrics[e.key] = create(MetricSummarySchema, { last, lastStep: BigInt(e.step), min: e.min ?? NaN, max: e.max ?? NaN, count: BigInt(e.numbers) });
    }
  }
  return [...summaries.values()];
}

/**
 * Up to `size` of the selected runs that exist, numbered after `after`, in number order;
 * `next` is the number to go on after when more may follow.
 */
async function selectedRunsPage(deps: TrackingDeps, experiment: string, runs: RunSelector, after: number, size: number): Promise<{ runs: RunRecord[]; next?: number }> {
  const collection = collections(deps).runs;
  if ("runs" in runs) {
    const numbers = [...new Set(runs.runs)].filter((n) => n > after).sort((a, b) => a - b);
    const taken = numbers.slice(0, size);
    const found = (await collection.getMany(taken.map((n) => runKey(experiment, n)))).flatMap((r) => (r ? [r.value] : []));
    return { runs: found, next: numbers.length > size ? taken.at(-1) : undefined };
  }
  const from = "from" in runs ? Math.max(runs.from, after + 1) : after + 1;
  const to = "to" in runs ? runs.to : Infinity;
  const listed = (await collection.list({ prefix: `${experiment}/runs/`, after: runKey(experiment, from - 1), limit: size + 1 })).map((r) => r.value).filter((r) => r.run <= to);
  const found = listed.slice(0, size);
  return { runs: found, next: listed.length > size ? found.at(-1)!.run : undefined };
}

/** The runs selected that exist, read by their keys (a run's key orders it by number), not with every other run. */
async function selectedRuns(deps: TrackingDeps, experiment: string, runs: RunSelector): Promise<RunRecord[]> {
  const collection = collections(deps).runs;
  const prefix = `${experiment}/runs/`;
  if ("all" in runs) return (await collection.list({ prefix })).map((r) => r.value);
  if ("runs" in runs) return (await collection.getMany([...new Set(runs.runs)].sort((a, b) => a - b).map((n) => runKey(experiment, n)))).flatMap((r) => (r ? [r.value] : []));
  const inRange = await collection.list({ prefix, after: runKey(experiment, runs.from - 1), limit: runs.to - runs.from + 1 });
  return inRange.map((r) => r.value).filter((r) => r.run <= runs.to);
}
