import { Code } from "@connectrpc/connect";
import { isKilnError, MAX_PAGE_SIZE, type Json } from "@kiln/core";
import { scanMerged, type RankedRun, type RunSelector } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { experimentById, inView, viewOf } from "./mlflow-experiments.js";
import { listOf, optionalInteger, optionalText, type MlflowCall, type MlflowEndpoints } from "./mlflow-http.js";
import { runIdOf } from "./mlflow-ids.js";
import { isRunDeleted, paramText, runJson, runNameOf, runsData, USER_TAG, type RunData } from "./mlflow-runs.js";
import { compareLookups, keysRead, matchesAll, MAX_MERGED_EXPERIMENTS, pageBounds, pageOf, parseOrder, parseSearchFilter, sortBy, startOrderOf, type Clause, type Lookup, type OrderKey } from "./mlflow-search.js";
import { runKey } from "./names.js";
import { collections, type ExperimentRecord, type RunRecord } from "./records.js";
import { ensureRunStarts, runsOfEntries } from "./run-starts.js";

/** A key of the lookup that no filter or order_by names (the parser takes MLflow's attributes only), for ties. */
const RUN_NUMBER = "run_number";

/** MLflow's default order; on the same start, the later run first, as the runs' start order reads them. */
const NEWEST_FIRST: OrderKey[] = [
  { kind: "attribute", key: "start_time", descending: true },
  { kind: "attribute", key: RUN_NUMBER, descending: true },
  { kind: "attribute", key: "run_id", descending: false },
];
/** Ordered by start_time ASC; on the same start, the earlier run first, as the runs' start order reads them forward. */
const OLDEST_FIRST: OrderKey[] = [
  { kind: "attribute", key: "start_time", descending: false },
  { kind: "attribute", key: RUN_NUMBER, descending: false },
  { kind: "attribute", key: "run_id", descending: false },
];

/** A run a search found: its experiment, its record, and the values the search compared. */
export interface FoundRun {
  experiment: ExperimentRecord;
  run: RunRecord;
  lookup: Lookup;
}
type View = ReturnType<typeof viewOf>;

/** An experiment searched: its MLflow id (which run ids and artifact URIs hold) and record. */
export interface SearchedExperiment {
  id: string;
  record: ExperimentRecord;
}

export interface RunSearch {
  /** MLflow's run filter. */
  filter: string;
  /** MLflow's order_by entries. */
  orderBy: readonly Json[];
  view: View;
  maxResults: number | undefined;
  pageToken: string | undefined;
}

/** MLflow's runs/search: the runs found (findRuns), then the page's runs read whole. */
export async function searchRuns(deps: TrackingDeps, { project, fields }: MlflowCall): Promise<Json> {
  const view = viewOf(fields, "run_view_type");
  const experiments: SearchedExperiment[] = [];
  for (const id of new Set(listOf(fields, "experiment_ids").map(String))) {
    const record = await experimentById(deps, project, id).catch((e: unknown) => {
      if (isKilnError(e, Code.NotFound)) return undefined; // MLflow finds no runs there
      throw e;
    });
    if (record) experiments.push({ id, record });
  }
  const page = await findRuns(deps, experiments, {
    filter: optionalText(fields, "filter") ?? "",
    orderBy: listOf(fields, "order_by"),
    view,
    maxResults: optionalInteger(fields, "max_results"),
    pageToken: optionalText(fields, "page_token"),
  });
  const pageRuns = new Map<string, number[]>();
  for (const { run } of page.items) pageRuns.set(run.experiment, [...(pageRuns.get(run.experiment) ?? []), run.run]);
  const data = new Map<string, Map<number, RunData>>();
  for (const [experiment, runs] of pageRuns) data.set(experiment, await runsData(deps, experiment, { runs }));
  return {
    runs: page.items.map((f) => runJson(f.experiment, f.run, data.get(f.run.experiment)?.get(f.run.run))),
    ...(page.next ? { next_page_token: page.next } : {}),
  };
}

/**
 * The runs of the experiments that a filter keeps, in an order, a page at a time (MLflow's
 * run search, which Kiln's SearchRuns shares). The usual search (newest first, or oldest)
 * reads the runs in their experiments' start order (run-starts.ts) until its page is full;
 * one ordered by a metric or param first reads the runs in its order (byValuePage); any
 * other reads every run of the experiments with the metrics and params its filter and
 * order name, then sorts.
 */
export async function findRuns(deps: TrackingDeps, searched: readonly SearchedExperiment[], search: RunSearch): Promise<{ items: FoundRun[]; next?: string }> {
  const filter = parseSearchFilter(search.filter, "runs");
  const order = parseOrder([...search.orderBy], "runs");
  const { view, maxResults, pageToken: token } = search;
  const shown = (r: RunRecord, e: ExperimentRecord) => inView(view, isRunDeleted(r, e));
  // A deleted experiment's runs are all deleted: an active view has none of them to read.
  const experiments = searched.filter((e) => !(view === "active" && e.record.deletedTime));
  const pageable = maxResults === undefined || (maxResults >= 1 && maxResults <= MAX_PAGE_SIZE);
  let page: { items: FoundRun[]; next?: string } | undefined;
  const startOrder = startOrderOf(order, "start_time");
  if (startOrder && pageable && experiments.length <= MAX_MERGED_EXPERIMENTS) {
    page = await startOrderPage(deps, experiments, filter, shown, { newestFirst: startOrder === "newest", maxResults: maxResults ?? MAX_PAGE_SIZE, token: token ?? "", bound: `${view} ${search.filter}` });
  } else if (isDataKey(order[0]) && pageable && experiments.length && experiments.length <= MAX_MERGED_EXPERIMENTS) {
    page = await byValuePage(deps, experiments, filter, order, shown, maxResults, token);
  }
  return page ?? (await sortedPage(deps, experiments, filter, order, shown, maxResults, token));
}

/**
 * The experiments' runs newest (or oldest) first: each experiment's read in its start
 * order, a stretch at a time, and merged (scanMerged), until the page and one more run are
 * found.
 */
async function startOrderPage(
  deps: TrackingDeps,
  experiments: readonly SearchedExperiment[],
  filter: readonly Clause[],
  shown: (r: RunRecord, e: ExperimentRecord) => boolean,
  { newestFirst, maxResults, token, bound }: { newestFirst: boolean; maxResults: number; token: string; bound: string },
): Promise<{ items: FoundRun[]; next?: string }> {
  for (const { record } of experiments) await ensureRunStarts(deps, record);
  const keys = keysRead(filter, [], ["metric", "param"]);
  const order = newestFirst ? NEWEST_FIRST : OLDEST_FIRST;
  const page = await scanMerged(
    collections(deps).runStarts,
    { prefixes: experiments.map((e) => `${e.record.name}/`), pageSize: maxResults, pageToken: token, filterText: `runs in start order: ${bound}`, reverse: newestFirst },
    async (stream, entries) => {
      const { id, record } = experiments[stream]!;
      const runs = await runsOfEntries(deps, record.name, entries);
      const values = await searchedValues(deps, record.name, keys, { runs: runs.flatMap((r) => (r ? [r.run] : [])) });
      return runs.map((run) => {
        if (!run || !shown(run, record)) return undefined;
        const lookup = runLookup(id, run, values);
        return matchesAll(filter, lookup) ? { experiment: record, run, lookup } : undefined;
      });
    },
    (a, b) => compareLookups(order, a.lookup, b.lookup),
  );
  return { items: page.items, ...(page.nextPageToken && { next: page.nextPageToken }) };
}

const isDataKey = (k: OrderKey | undefined): k is OrderKey => k?.kind === "metric" || k?.kind === "param";

/**
 * The experiments' runs ordered by a metric or param first (MLflow's "best run",
 * `order_by: ["metrics.acc DESC"]`): each experiment's runs that have it come in its order,
 * a stretch of whole groups of equal values at a time (orderedStretches), and are merged:
 * the runs up to the least of the experiments' last values read (no run to come can precede
 * or tie them) have their records and the values the filter and the rest of the order read
 * read, and are sorted, until the page and one more run are found. Undefined when the runs
 * that have it run out first: those without it come last, and sortedPage reads them all. A
 * page token is an offset either way.
 */
async function byValuePage(
  deps: TrackingDeps,
  experiments: readonly SearchedExperiment[],
  filter: readonly Clause[],
  order: readonly OrderKey[],
  shown: (r: RunRecord, e: ExperimentRecord) => boolean,
  maxResults: number | undefined,
  token: string | undefined,
): Promise<{ items: FoundRun[]; next?: string } | undefined> {
  const { end } = pageBounds(maxResults, token);
  const keys = keysRead(filter, order, ["metric", "param"]);
  const [first] = order as [OrderKey];
  const found: FoundRun[] = [];
  const wanted = () => Math.max(256, Math.ceil((2 * (end + 1 - found.length)) / experiments.length));
  const streams = experiments.map((experiment) => ({ experiment, stretches: orderedStretches(deps, experiment.record.name, first, wanted), read: [] as OrderedRun[], done: false }));
  const before = (a: string | number, b: string | number) => compareLookups([first], () => a, () => b) < 0;
  while (found.length <= end) {
    for (const s of streams) {
      if (s.read.length || s.done) continue;
      const next = await s.stretches.next();
      if (next.done) s.done = true;
      else s.read = next.value;
    }
    const open = streams.filter((s) => !s.done);
    if (streams.every((s) => !s.read.length)) return undefined;
    // Every run to come of an open experiment follows its last value read: runs up to the least of those are final.
    const bound = open.map((s) => s.read.at(-1)!.value).reduce<string | number | undefined>((least, v) => (least === undefined || before(v, least) ? v : least), undefined);
    const batch: FoundRun[] = [];
    for (const s of streams) {
      const cut = bound === undefined ? s.read.length : s.read.findIndex((r) => before(bound, r.value));
      const taken = s.read.splice(0, cut < 0 ? s.read.length : cut);
      if (taken.length) batch.push(...(await foundOf(deps, s.experiment, taken.map((r) => r.run), keys, filter, shown)));
    }
    sortBy(batch, [...order, ...NEWEST_FIRST], (f) => f.lookup);
    found.push(...batch);
  }
  return pageOf(found, maxResults, token);
}

/** These runs of an experiment that exist, are shown and pass the filter, with the values the search reads. */
async function foundOf(deps: TrackingDeps, { id, record }: SearchedExperiment, runs: number[], keys: string[], filter: readonly Clause[], shown: (r: RunRecord, e: ExperimentRecord) => boolean): Promise<FoundRun[]> {
  const values = await searchedValues(deps, record.name, keys, { runs });
  const found: FoundRun[] = [];
  for (const stored of await collections(deps).runs.getMany(runs.map((run) => runKey(record.name, run)))) {
    if (!stored) continue;
    const lookup = runLookup(id, stored.value, values);
    if (shown(stored.value, record) && matchesAll(filter, lookup)) found.push({ experiment: record, run: stored.value, lookup });
  }
  return found;
}

/** A run and its latest value of the key a search is ordered by. */
interface OrderedRun {
  run: number;
  value: string | number;
}

/**
 * The runs whose latest value of the key is a number other than NaN (a metric) or any
 * value (a param), in the key's order, in stretches of about `size()` runs that end where
 * the value changes (a group of equal values is ordered by the rest of the order, so it
 * comes whole). A metric's come from the event store's ranking, a stretch at a time; a
 * param's (text, in MLflow's order of strings) from every run's summary of it.
 */
async function* orderedStretches(deps: TrackingDeps, experiment: string, key: OrderKey, size: () => number): AsyncGenerator<OrderedRun[]> {
  if (key.kind === "param") {
    const values = [...((await searchedValues(deps, experiment, [key.key], { all: true })).get(`param:${key.key}`) ?? [])].map(([run, value]) => ({ run, value }));
    sortBy(values, [key], (r) => (kind) => (kind === "param" ? r.value : undefined));
    for (let at = 0; at < values.length; ) {
      let stop = Math.min(values.length, at + size());
      while (stop < values.length && values[stop]!.value === values[stop - 1]!.value) stop++;
      yield values.slice(at, stop);
      at = stop;
    }
    return;
  }
  let held: RankedRun[] = [];
  let after: RankedRun | undefined;
  const ordered = (rows: RankedRun[]) => rows.map((r) => ({ run: r.run, value: r.number }));
  for (;;) {
    const limit = size();
    const read = await deps.events.ranked({ experiment, event: "metric", key: key.key, descending: key.descending, after, limit });
    const rows = [...held, ...read];
    if (read.length < limit) {
      if (rows.length) yield ordered(rows);
      return;
    }
    after = read[read.length - 1]!;
    // The last group of equal values may go on past this read: it waits for the next.
    let cut = rows.length;
    while (cut > 0 && rows[cut - 1]!.number === after.number) cut--;
    held = rows.slice(cut);
    if (cut > 0) yield ordered(rows.slice(0, cut));
  }
}

/** Every run of the experiments that the filter keeps, sorted, and the page asked for (a page token is an offset). */
async function sortedPage(
  deps: TrackingDeps,
  experiments: readonly SearchedExperiment[],
  filter: readonly Clause[],
  order: readonly OrderKey[],
  shown: (r: RunRecord, e: ExperimentRecord) => boolean,
  maxResults: number | undefined,
  token: string | undefined,
): Promise<{ items: FoundRun[]; next?: string }> {
  const keys = keysRead(filter, order, ["metric", "param"]);
  const found: FoundRun[] = [];
  for (const { id, record } of experiments) {
    const runs = (await collections(deps).runs.list({ prefix: `${record.name}/runs/` })).map((r) => r.value);
    const values = await searchedValues(deps, record.name, keys, { all: true });
    for (const run of runs) {
      const lookup = runLookup(id, run, values);
      if (shown(run, record) && matchesAll(filter, lookup)) found.push({ experiment: record, run, lookup });
    }
  }
  sortBy(found, [...order, ...(startOrderOf(order, "start_time") === "oldest" ? OLDEST_FIRST : NEWEST_FIRST)], (f) => f.lookup);
  return pageOf(found, maxResults, token);
}

/** The latest value of searched metrics and params, by `${event}:${key}`, then by run: a map per key, where RunData is four per run. */
type SearchedValues = Map<string, Map<number, string | number>>;

async function searchedValues(deps: TrackingDeps, experiment: string, keys: readonly string[], runs: RunSelector): Promise<SearchedValues> {
  const values: SearchedValues = new Map();
  if (!keys.length || ("runs" in runs && !runs.runs.length)) return values;
  for (const s of await deps.events.summarize({ experiment, runs, events: ["metric", "param"], keys })) {
    const value = s.event === "param" ? paramText(s) : s.valueType === "number" ? s.number! : undefined;
    if (value === undefined) continue;
    const id = `${s.event}:${s.key}`;
    let byRun = values.get(id);
    if (!byRun) values.set(id, (byRun = new Map()));
    byRun.set(s.run, value);
  }
  return values;
}

function runLookup(experimentId: string, r: RunRecord, values: SearchedValues): Lookup {
  return (kind, key) => {
    if (kind === "metric" || kind === "param") return values.get(`${kind}:${key}`)?.get(r.run);
    if (kind === "tag") return r.tags[key];
    switch (key) {
      case "run_id":
        return runIdOf(experimentId, r.run);
      case RUN_NUMBER:
        return r.run;
      case "run_name":
        return runNameOf(r);
      case "status":
        return r.status;
      case "user_id":
        return r.creator || r.tags[USER_TAG] || "";
      case "artifact_uri":
        return `mlflow-artifacts:/${experimentId}/${runIdOf(experimentId, r.run)}/artifacts`;
      case "start_time":
        return Date.parse(r.startTime);
      case "end_time":
        return r.endTime ? Date.parse(r.endTime) : undefined;
    }
    return undefined;
  };
}

export function runSearchEndpoints(deps: TrackingDeps): MlflowEndpoints {
  return { "mlflow/runs/search": { method: "POST", role: "read", answer: (c) => searchRuns(deps, c) } };
}
