import type { FilterExpr } from "@kiln/data";
import type { EventPage } from "./event-page.js";

/**
 * Tracking events: append-only rows (experiment, run, event, dt, node, step, key, value),
 * written in batches and read back in run, then logging, order. Each event carries an id;
 * appending an id seen before is a no-op, which makes retried batches harmless (ids serve
 * that alone: queries leave them out).
 */
export type EventValueType = "none" | "number" | "text" | "json" | "artifact";

/** Value types by the number a backend stores (and EventBatch and EventPage carry). */
export const EVENT_VALUE_TYPES: readonly EventValueType[] = ["none", "number", "text", "json", "artifact"];

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
  /** Only events of these kinds (as `event IN (…)` in the filter, but a store skips whole batches that hold none of them). */
  events?: string[];
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

/** What `summarize` reads: the runs' (run, event, key) summaries of these event kinds. */
export interface SummaryQuery {
  experiment: string;
  runs: RunSelector;
  events: string[];
  /** Only these keys (of any of the events); every key when absent. */
  keys?: readonly string[];
}

/**
 * All events of one (run, event, key): the latest (highest step, then newest dt, then the
 * last logged: MLflow's latest metric) with its value, and over the number values (NaN
 * left out) the least, the greatest and how many there are.
 */
export interface EventSummary {
  run: number;
  event: string;
  key: string;
  step: number;
  dt: number;
  valueType: EventValueType;
  number?: number;
  text?: string;
  /** Undefined when no number value but NaN was logged. */
  min?: number;
  max?: number;
  /** Events of it with a number value, NaN included. */
  numbers: number;
}

/**
 * What `ranked` reads: the runs whose latest value of one (event, key) is a number (NaN
 * left out), in order of that number, then of the run, both ascending or both descending.
 */
export interface RankQuery {
  experiment: string;
  event: string;
  key: string;
  descending: boolean;
  /** Where the last read stopped: only runs after it in this order. */
  after?: RankedRun;
  limit: number;
}

export interface RankedRun {
  run: number;
  number: number;
}

export interface EventStore {
  append(events: TrackedEvent[]): Promise<{ accepted: number; duplicates: number }>;
  /** Stores a columnar batch once: a batchId seen before adds nothing. */
  appendBatch(batch: EventBatch): Promise<{ accepted: number; duplicates: number }>;
  /** Pages of matching events in (run, logging) order; a page is built only when asked for. */
  query(query: EventQuery): AsyncGenerator<EventPage>;
  /** Each (run, event, key)'s summary, in (run, event, key) order, without reading the events themselves where the store keeps them. */
  summarize(query: SummaryQuery): Promise<EventSummary[]>;
  /** Runs in order of their latest number of a key (MLflow's `order_by: metrics.acc DESC`), a stretch at a time. */
  ranked(query: RankQuery): Promise<RankedRun[]>;
  deleteExperiment(experiment: string): Promise<number>;
  close(): Promise<void>;
}
