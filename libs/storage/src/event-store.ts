import type { FilterExpr } from "@kiln/data";

/**
 * Tracking events: append-only rows (experiment, run, event, dt, node, step, key, value),
 * written in batches and read back in run, then logging, order. Each event carries an id;
 * appending an id seen before is a no-op, which makes retried batches harmless.
 */
export type EventValueType = "none" | "number" | "text" | "json" | "artifact";

export interface TrackedEvent {
  id: string;
  /** projects/{p}/experiments/{e} */
  experiment: string;
  run: number;
  event: string;
  /** Milliseconds since the epoch. */
  dt: number;
  node: string;
  step: number;
  key: string;
  valueType: EventValueType;
  /** For "number" (NaN and ±Infinity kept). */
  number?: number;
  /** For "text"; JSON text for "json" and "artifact". */
  text?: string;
}

/** Which runs a query reads. */
export type RunSelector = { all: true } | { runs: number[] } | { from: number; to: number };

export interface EventQuery {
  experiment: string;
  runs: RunSelector;
  /** Over the columns in EVENT_COLUMNS. */
  filter?: FilterExpr;
  /** Rows per page (default 10,000). */
  pageSize?: number;
}

/** The columns a filter may name; `dt` compares with ISO 8601 text or epoch milliseconds. */
export const EVENT_COLUMNS = ["run", "event", "dt", "node", "step", "key", "value"] as const;

/**
 * Many events of one run as columns (entry i of each per-event column is event i),
 * idempotent as a whole by batchId. Events in a batch have no ids of their own.
 */
export interface EventBatch {
  batchId: string;
  experiment: string;
  run: number;
  /** What event, key and node index into. */
  strings: string[];
  event: ArrayLike<number>;
  key: ArrayLike<number>;
  node: ArrayLike<number>;
  step: ArrayLike<number>;
  dt: ArrayLike<number>;
  /** 0 none, 1 number, 2 text, 3 JSON. */
  valueType: ArrayLike<number>;
  number: ArrayLike<number>;
  /** One per event of value type 2 or 3, in order. */
  text: string[];
}

export const BATCH_VALUE_TYPES: EventValueType[] = ["none", "number", "text", "json"];

/** A batch's events one by one (for backends without a faster way; ids are "{batchId}:{i}"). */
export function batchEvents(b: EventBatch): TrackedEvent[] {
  const events: TrackedEvent[] = [];
  let t = 0;
  for (let i = 0; i < b.event.length; i++) {
    const valueType = BATCH_VALUE_TYPES[b.valueType[i]!] ?? "none";
    const e: TrackedEvent = {
      id: `${b.batchId}:${i}`,
      experiment: b.experiment,
      run: b.run,
      event: b.strings[b.event[i]!]!,
      dt: b.dt[i]!,
      node: b.strings[b.node[i]!]!,
      step: b.step[i]!,
      key: b.strings[b.key[i]!]!,
      valueType,
    };
    if (valueType === "number") e.number = b.number[i]!;
    else if (valueType !== "none") e.text = b.text[t++]!;
    events.push(e);
  }
  return events;
}

export interface EventStore {
  append(events: TrackedEvent[]): Promise<{ accepted: number; duplicates: number }>;
  /** Stores a columnar batch once: a batchId seen before adds nothing. */
  appendBatch(batch: EventBatch): Promise<{ accepted: number; duplicates: number }>;
  /** Pages of matching events in (run, logging) order. */
  query(query: EventQuery): AsyncGenerator<TrackedEvent[]>;
  deleteExperiment(experiment: string): Promise<number>;
  close(): Promise<void>;
}
