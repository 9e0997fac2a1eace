import { create } from "@bufbuild/protobuf";
import { Dictionary, Field, Float64, Int32, RecordBatch, Schema, Struct, Table, TimestampMillisecond, Utf8, makeData, vectorFromArray } from "apache-arrow";
import { tableToIpc } from "@kiln/data";
import {
  GetMetricHistoryResponseSchema,
  MetricPointSchema,
  MetricSummarySchema,
  QueryEventsResponseSchema,
  RunSummarySchema,
  type GetMetricHistoryResponse,
  type QueryEventsRequest,
  type QueryEventsResponse,
  type RunSummary,
} from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { parseFilter } from "@kiln/data";
import { parseRequestFilter, type RunSelector, type TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { getExperiment } from "./experiments.js";
import { parseExperimentName, parseRunName } from "./names.js";
import { collections, runToProto, type RunRecord } from "./records.js";
import { getRun } from "./runs.js";
import { parseRuns } from "./runs-selector.js";

/** Events as Arrow record batches, a page at a time (so a million rows never sit in memory at once). */
export async function* queryEvents(deps: TrackingDeps, req: QueryEventsRequest): AsyncGenerator<QueryEventsResponse> {
  const { name } = parseExperimentName(req.parent);
  const { record } = await getExperiment(deps, name);
  const filter = req.filter ? parseRequestFilter(req.filter) : undefined;
  const runs = parseRuns(req.runs, record.latestRun);
  for await (const page of deps.events.query({ experiment: name, runs, filter, pageSize: 16_384 })) {
    yield create(QueryEventsResponseSchema, { arrowIpc: tableToIpc(eventsTable(page)), rowCount: BigInt(page.length) });
  }
}

/**
 * A page of events as an Arrow table. The string columns repeat a few values (one
 * experiment, a handful of events, keys and nodes), so they are dictionary-encoded:
 * built from an index array, far faster than a string builder and a fraction of the size.
 */
export function eventsTable(events: TrackedEvent[]): Table {
  const n = events.length;
  const run = new Int32Array(n);
  const step = new Int32Array(n);
  const dt = new BigInt64Array(n);
  const value = new Float64Array(n);
  const valueValid = new Uint8Array(Math.ceil(n / 8));
  const experiment = new Dictionary64(n);
  const event = new Dictionary64(n);
  const node = new Dictionary64(n);
  const key = new Dictionary64(n);
  const type = new Dictionary64(n);
  const text: (string | null)[] = new Array(n);
  let texts = 0;
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    run[i] = e.run;
    step[i] = e.step;
    dt[i] = BigInt(Math.round(e.dt));
    experiment.add(i, e.experiment);
    event.add(i, e.event);
    node.add(i, e.node);
    key.add(i, e.key);
    type.add(i, e.valueType);
    if (e.valueType === "number") {
      value[i] = e.number!;
      valueValid[i >> 3]! |= 1 << (i & 7);
    }
    text[i] = e.text ?? null;
    if (e.text !== undefined) texts++;
  }
  const columns = {
    experiment: experiment.data(0),
    run: makeData({ type: new Int32(), length: n, data: run }),
    event: event.data(1),
    dt: makeData({ type: new TimestampMillisecond(), length: n, data: dt }),
    node: node.data(2),
    step: makeData({ type: new Int32(), length: n, data: step }),
    key: key.data(3),
    value: makeData({ type: new Float64(), length: n, data: value, nullBitmap: valueValid }),
    value_text: texts ? vectorFromArray(text, new Utf8()).data[0]! : makeData({ type: new Utf8(), length: n, nullCount: n, valueOffsets: new Int32Array(n + 1), data: new Uint8Array(0), nullBitmap: new Uint8Array(Math.ceil(n / 8)) }),
    value_type: type.data(4),
  };
  // One fixed schema (dictionary ids, nullability) for every page, so pages concatenate.
  const fields = Object.entries(columns).map(([name, data]) => new Field(name, data.type, true));
  const schema = new Schema(fields);
  return new Table(schema, new RecordBatch(schema, makeData({ type: new Struct(fields), length: n, nullCount: 0, children: Object.values(columns) })));
}

/** A dictionary-encoded string column under construction. */
class Dictionary64 {
  private readonly indices: Int32Array;
  private readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(length: number) {
    this.indices = new Int32Array(length);
  }

  add(row: number, value: string): void {
    let i = this.index.get(value);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(value, i);
    }
    this.indices[row] = i;
  }

  data(id: number) {
    const dictionary = vectorFromArray(this.values, new Utf8());
    return makeData({ type: new Dictionary(new Utf8(), new Int32(), id), length: this.indices.length, data: this.indices, dictionary });
  }
}

/** One metric's points in a run, in step order (logging order within a step). */
export async function metricHistory(deps: TrackingDeps, runName: string, key: string): Promise<GetMetricHistoryResponse> {
  const { experiment, run } = parseRunName(runName);
  await getRun(deps, experiment, run);
  const points: TrackedEvent[] = [];
  const filter = parseFilter(`event = "metric" AND key = ${JSON.stringify(key)}`);
  for await (const page of deps.events.query({ experiment, runs: { runs: [run] }, filter })) points.push(...page);
  points.sort((a, b) => a.step - b.step);
  return create(GetMetricHistoryResponseSchema, {
    points: points.map((p) => create(MetricPointSchema, { step: BigInt(p.step), value: p.number ?? NaN, dt: timestampFromMs(p.dt) })),
  });
}

/** Per run: last/min/max/count of each metric and the params, for comparing runs side by side. */
export async function summarizeRuns(deps: TrackingDeps, parent: string, runsText: string): Promise<RunSummary[]> {
  const { name } = parseExperimentName(parent);
  const { record } = await getExperiment(deps, name);
  const runs = parseRuns(runsText, record.latestRun, "all");
  // Every selected run that exists gets a summary, also one that logged nothing.
  const summaries = new Map<number, RunSummary>();
  for (const run of await selectedRuns(deps, name, runs)) summaries.set(run.run, create(RunSummarySchema, { run: runToProto(run) }));
  const filter = parseFilter(`event IN ("metric", "param")`);
  for await (const page of deps.events.query({ experiment: name, runs, filter })) {
    for (const e of page) {
      const s = summaries.get(e.run);
      if (!s) continue;
      if (e.event === "param") {
        s.params[e.key] = e.valueType === "number" ? JSON.stringify(e.number) : e.valueType === "text" ? JSON.stringify(e.text) : (e.text ?? "null");
        continue;
      }
      if (e.valueType !== "number") continue;
      const v = e.number!;
      const m = (s.metrics[e.key] ??= create(MetricSummarySchema, { min: v, max: v, count: 0n }));
      m.last = v;
      m.lastStep = BigInt(e.step);
      m.min = Math.min(m.min, v);
      m.max = Math.max(m.max, v);
      m.count++;
    }
  }
  return [...summaries.values()];
}

async function selectedRuns(deps: TrackingDeps, experiment: string, runs: RunSelector): Promise<RunRecord[]> {
  const all = (await collections(deps).runs.list({ prefix: `${experiment}/runs/` })).map((r) => r.value);
  if ("all" in runs) return all;
  if ("runs" in runs) return all.filter((r) => runs.runs.includes(r.run));
  return all.filter((r) => r.run >= runs.from && r.run <= runs.to);
}
