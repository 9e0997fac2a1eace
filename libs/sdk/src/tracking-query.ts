import type { RecordBatch, Table, Vector } from "apache-arrow";

/** What `exp.data()` selects; every part is optional and they combine with AND. */
export interface DataQuery {
  /** "latest" (default), "all", a run number, a list [1, 3], or a range {from, to}. */
  run?: "latest" | "all" | number | number[] | { from: number; to: number };
  event?: string | string[];
  key?: string | string[];
  node?: string | string[];
  /** One step or a range. */
  step?: number | { from?: number; to?: number };
  since?: Date;
  until?: Date;
  /** More conditions in the filter language, e.g. `value > 0.9 OR event = "param"` (ANDed with the rest). */
  filter?: string;
}

/** One row of `exp.data()`, as omega-ml documents its columns. */
export interface EventRow {
  experiment: string;
  run: number;
  event: string;
  dt: Date;
  node: string;
  step: number;
  key: string;
  /** A number, a string, a parsed JSON value, or an artifact reference. */
  value: unknown;
}

export function runsText(run: DataQuery["run"]): string {
  if (run === undefined) return "latest";
  if (typeof run === "string") return run;
  if (typeof run === "number") return String(run);
  if (Array.isArray(run)) return run.join(",");
  return `${run.from}..${run.to}`;
}

export function dataFilter(q: DataQuery): string {
  const parts: string[] = [];
  const oneOf = (column: string, v: string | string[] | undefined) => {
    if (v === undefined) return;
    const values = Array.isArray(v) ? v : [v];
    parts.push(`${column} IN (${values.map((x) => JSON.stringify(x)).join(", ")})`);
  };
  oneOf("event", q.event);
  oneOf("key", q.key);
  oneOf("node", q.node);
  if (typeof q.step === "number") parts.push(`step = ${q.step}`);
  else if (q.step) {
    if (q.step.from !== undefined) parts.push(`step >= ${q.step.from}`);
    if (q.step.to !== undefined) parts.push(`step <= ${q.step.to}`);
  }
  if (q.since) parts.push(`dt >= ${JSON.stringify(q.since.toISOString())}`);
  if (q.until) parts.push(`dt <= ${JSON.stringify(q.until.toISOString())}`);
  if (q.filter) parts.push(`(${q.filter})`);
  return parts.join(" AND ");
}

export function eventRows(table: Table): EventRow[] {
  const rows: EventRow[] = [];
  // A batch at a time: get(i) on the whole table's columns looks for i's batch on every call.
  for (const batch of table.batches) batchRows(batch, rows);
  return rows;
}

function batchRows(batch: RecordBatch, rows: EventRow[]): void {
  const col = (name: string) => batch.getChild(name)!;
  const [run, dt, step, value, text] = ["run", "dt", "step", "value", "value_text"].map(col);
  const [experiment, event, node, key, type] = ["experiment", "event", "node", "key", "value_type"].map((name) => stringsOf(col(name)));
  for (let i = 0; i < batch.numRows; i++) {
    const kind = type!(i)!;
    const raw = kind === "number" ? (value!.get(i) as number | null) ?? NaN : (text!.get(i) as string | null);
    rows.push({
      experiment: experiment!(i)!,
      run: run!.get(i) as number,
      event: event!(i)!,
      dt: new Date(Number(dt!.get(i))),
      node: node!(i)!,
      step: step!.get(i) as number,
      key: key!(i)!,
      value: kind === "json" || kind === "artifact" ? JSON.parse(raw as string) : kind === "none" ? null : raw,
    });
  }
}

/** A string column's values by row; a dictionary's words decoded once, not once a row. */
function stringsOf(vector: Vector): (i: number) => string | null {
  const data = vector.data[0];
  if (!data?.dictionary || vector.data.length !== 1) return (i) => vector.get(i) as string | null;
  const words = [...data.dictionary] as string[];
  const indices = data.values as Int32Array;
  return (i) => (vector.isValid(i) ? words[indices[i]!]! : null);
}

/** One point of a metric's history. */
export interface MetricHistoryPoint {
  step: number;
  /** NaN where the event's value is not a number. */
  value: number;
  dt: Date;
}

/**
 * A metric's events (one run's, one key's, as QueryEvents sends them in logging order) as
 * its history: in step order, logging order within a step, as GetMetricHistory gives it.
 */
export function metricHistoryOf(table: Table): MetricHistoryPoint[] {
  const points: MetricHistoryPoint[] = [];
  let sorted = true;
  // A batch at a time: get(i) on the whole table's columns looks for i's batch on every call.
  for (const batch of table.batches) {
    const [dt, step, value] = ["dt", "step", "value"].map((name) => batch.getChild(name)!);
    const steps = step!.toArray() as Int32Array;
    const values = value!.toArray() as Float64Array;
    for (let i = 0; i < batch.numRows; i++) {
      const point = { step: steps[i]!, value: value!.isValid(i) ? values[i]! : NaN, dt: new Date(Number(dt!.get(i))) };
      if (points.length && point.step < points[points.length - 1]!.step) sorted = false;
      points.push(point);
    }
  }
  return sorted ? points : points.sort((a, b) => a.step - b.step); // stable: logging order within a step
}
