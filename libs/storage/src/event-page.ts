import { EVENT_VALUE_TYPES } from "./event-store.js";

/** A string column whose few distinct values repeat over many events. */
export interface DictionaryColumn {
  /** The distinct values, in order of first appearance. */
  values: string[];
  /** Per event, an index into values. */
  indices: Int32Array;
}

/**
 * Events read back as columns (entry i of each column is event i), all of one experiment.
 * Columns rather than one object per event: a page of a million-row query then holds a
 * few typed arrays, not a graph of objects the garbage collector has to promote and trace.
 */
export interface EventPage {
  length: number;
  run: Int32Array;
  event: DictionaryColumn;
  /** Milliseconds since the epoch. */
  dt: Float64Array;
  node: DictionaryColumn;
  step: Int32Array;
  key: DictionaryColumn;
  /** An index into EVENT_VALUE_TYPES. */
  valueType: Uint8Array;
  /** The value of a number event (NaN and ±Infinity kept); 0 for other events. */
  number: Float64Array;
  /** The value of a text, JSON or artifact event; null for other events. */
  text: (string | null)[];
}

/** Entry i of a dictionary-encoded column. */
export function stringAt(column: DictionaryColumn, i: number): string {
  return column.values[column.indices[i]!]!;
}

/** Fills one page of columns, an event at a time, up to a fixed capacity. */
export class EventPageBuilder {
  private columns: Columns | undefined;
  private n = 0;

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.n;
  }

  get full(): boolean {
    return this.n === this.capacity;
  }

  /** `number` is read for number events only, `text` for the others. */
  add(run: number, event: string, dt: number, node: string, step: number, key: string, valueType: number, number: number | null, text: string | null): void {
    const c = (this.columns ??= new Columns(this.capacity));
    const i = this.n++;
    const type = valueType < EVENT_VALUE_TYPES.length ? valueType : 0;
    c.run[i] = run;
    c.event.add(i, event);
    c.dt[i] = dt;
    c.node.add(i, node);
    c.step[i] = step;
    c.key.add(i, key);
    c.valueType[i] = type;
    const isNumber = EVENT_VALUE_TYPES[type] === "number";
    // SQLite keeps NaN as NULL.
    if (isNumber) c.number[i] = number ?? NaN;
    c.text.push(isNumber ? null : text);
  }

  /** The page so far; the next add starts a new one (in new arrays: a page may outlive the next). */
  take(): EventPage {
    const c = this.columns ?? new Columns(0);
    const n = this.n;
    this.columns = undefined;
    this.n = 0;
    return {
      length: n,
      run: c.run.subarray(0, n),
      event: c.event.take(n),
      dt: c.dt.subarray(0, n),
      node: c.node.take(n),
      step: c.step.subarray(0, n),
      key: c.key.take(n),
      valueType: c.valueType.subarray(0, n),
      number: c.number.subarray(0, n),
      text: c.text,
    };
  }
}

class Columns {
  readonly run: Int32Array;
  readonly event: DictionaryBuilder;
  readonly dt: Float64Array;
  readonly node: DictionaryBuilder;
  readonly step: Int32Array;
  readonly key: DictionaryBuilder;
  readonly valueType: Uint8Array;
  readonly number: Float64Array;
  readonly text: (string | null)[] = [];

  constructor(capacity: number) {
    this.run = new Int32Array(capacity);
    this.event = new DictionaryBuilder(capacity);
    this.dt = new Float64Array(capacity);
    this.node = new DictionaryBuilder(capacity);
    this.step = new Int32Array(capacity);
    this.key = new DictionaryBuilder(capacity);
    this.valueType = new Uint8Array(capacity);
    this.number = new Float64Array(capacity);
  }
}

class DictionaryBuilder {
  private readonly indices: Int32Array;
  private readonly values: string[] = [];
  private readonly index = new Map<string, number>();

  constructor(capacity: number) {
    this.indices = new Int32Array(capacity);
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

  take(n: number): DictionaryColumn {
    return { values: this.values, indices: this.indices.subarray(0, n) };
  }
}
