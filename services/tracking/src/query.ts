import { create } from "@bufbuild/protobuf";
import { Float64, Int32, Table, TimestampMillisecond, Utf8, makeVector, vectorFromArray } from "apache-arrow";
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
import type { TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";
import { getExperiment } from "./experiments.js";
import { parseFilterText } from "./filters.js";
import { parseExperimentName, parseRunName } from "./names.js";
import { runToProto } from "./records.js";
import { getRun } from "./runs.js";
import { parseRuns } from "./runs-selector.js";

/** Events as Arrow record batches, a page at a time (so a million rows never sit in memory at once). */
export async function* queryEvents(deps: TrackingDeps, req: QueryEventsRequest): AsyncGenerator<QueryEventsResponse> {
  const { name } = parseExperimentName(req.parent);
  const { record } = await getExperiment(deps, name);
  const filter = req.filter ? parseFilterText(req.filter) : undefined;
  const runs = parseRuns(req.runs, record.latestRun);
  for await (const page of deps.events.query({ experiment: name, runs, filter, pageSize: 50_000 })) {
    yield create(QueryEventsResponseSchema, { arrowIpc: tableToIpc(eventsTable(page)), rowCount: BigInt(page.length) });
  }
}

export function eventsTable(events: TrackedEvent[]): Table {
  const n = events.length;
  const run = new Int32Array(n);
  const step = new Int32Array(n);
  const dt = new Float64Array(n);
  const value: (number | null)[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    run[i] = e.run;
    step[i] = e.step;
    dt[i] = e.dt;
    value[i] = e.valueType === "number" ? e.number! : null;
  }
  return new Table({
    experiment: vectorFromArray(events.map((e) => e.experiment), new Utf8()),
    run: makeVector(run),
    event: vectorFromArray(events.map((e) => e.event), new Utf8()),
    dt: vectorFromArray(Array.from(dt), new TimestampMillisecond()),
    node: vectorFromArray(events.map((e) => e.node), new Utf8()),
    step: makeVector(step),
    key: vectorFromArray(events.map((e) => e.key), new Utf8()),
    value: vectorFromArray(value, new Float64()),
    value_text: vectorFromArray(events.map((e) => e.text ?? null), new Utf8()),
    value_type: vectorFromArray(events.map((e) => e.valueType), new Utf8()),
  });
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
  const summaries = new Map<number, RunSummary>();
  const filter = parseFilter(`event IN ("metric", "param")`);
  for await (const page of deps.events.query({ experiment: name, runs, filter })) {
    for (const e of page) {
      let s = summaries.get(e.run);
      if (!s) summaries.set(e.run, (s = create(RunSummarySchema, { run: runToProto(await getRun(deps, name, e.run)) })));
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
