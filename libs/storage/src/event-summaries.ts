import { EVENT_VALUE_TYPES, type EventBatch, type EventSummary } from "./event-store.js";

/** One (experiment, run, event, key)'s summary as a store keeps it: the value type by number, NaN as a null number. */
export interface SummaryRow {
  experiment: string;
  run: number;
  event: string;
  key: string;
  step: number;
  dt: number;
  seq: number;
  vtype: number;
  num: number | null;
  txt: string | null;
  lo: number | null;
  hi: number | null;
  numbers: number;
}

/** Whether an event at (step, dt, seq) is later than the summary's latest: by step, then dt, then logging order. */
function isLater(step: number, dt: number, seq: number, than: { step: number; dt: number; seq: number }): boolean {
  return step > than.step || (step === than.step && (dt > than.dt || (dt === than.dt && seq > than.seq)));
}

/** Folds events into one summary per (experiment, run, event, key), so that an append writes each once. */
export class SummaryAccumulator {
  private readonly rows = new Map<string, SummaryRow>();

  /** `num`: the number of a number event, NaN as it is. */
  add(experiment: string, run: number, event: string, key: string, step: number, dt: number, seq: number, vtype: number, num: number | null, txt: string | null): void {
    this.merge(summaryOf(experiment, run, event, key, step, dt, seq, vtype, num, txt));
  }

  /**
   * A batch's events, numbered from `first`: folded per (event, key) by their string
   * indexes first, which spares a string key per event.
   */
  addBatch(experiment: string, run: number, first: number, b: Pick<EventBatch, "strings" | "event" | "key" | "step" | "dt" | "valueType" | "number" | "text">): void {
    const width = b.strings.length;
    const local = new Map<number, SummaryRow>();
    let t = 0;
    for (let i = 0; i < b.event.length; i++) {
      const vtype = b.valueType[i]!;
      const txt = vtype >= 2 ? b.text[t++]! : null;
      const at = b.event[i]! * width + b.key[i]!;
      const had = local.get(at);
      if (had) fold(had, b.step[i]!, b.dt[i]!, first + i, vtype, vtype === 1 ? b.number[i]! : null, txt);
      else local.set(at, summaryOf(experiment, run, b.strings[b.event[i]!]!, b.strings[b.key[i]!]!, b.step[i]!, b.dt[i]!, first + i, vtype, vtype === 1 ? b.number[i]! : null, txt));
    }
    for (const row of local.values()) this.merge(row);
  }

  /** Folds a summary of later events (or of events logged alongside) into the one kept. */
  private merge(row: SummaryRow): void {
    const id = `${row.experiment}\u0000${row.run}\u0000${row.event}\u0000${row.key}`;
    const had = this.rows.get(id);
    if (!had) {
      this.rows.set(id, row);
      return;
    }
    if (isLater(row.step, row.dt, row.seq, had)) {
      had.step = row.step;
      had.dt = row.dt;
      had.seq = row.seq;
      had.vtype = row.vtype;
      had.num = row.num;
      had.txt = row.txt;
    }
    if (row.lo !== null) had.lo = had.lo === null ? row.lo : Math.min(had.lo, row.lo);
    if (row.hi !== null) had.hi = had.hi === null ? row.hi : Math.max(had.hi, row.hi);
    had.numbers += row.numbers;
  }

  values(): IterableIterator<SummaryRow> {
    return this.rows.values();
  }
}

/** One event's summary. `num`: NaN as it is (kept as null, as SQLite keeps it). */
function summaryOf(experiment: string, run: number, event: string, key: string, step: number, dt: number, seq: number, vtype: number, num: number | null, txt: string | null): SummaryRow {
  const value = vtype === 1 && num !== null && !Number.isNaN(num) ? num : null;
  return { experiment, run, event, key, step, dt, seq, vtype, num: value, txt: vtype >= 2 ? txt : null, lo: value, hi: value, numbers: vtype === 1 ? 1 : 0 };
}

/** Folds one more event into a summary. */
function fold(into: SummaryRow, step: number, dt: number, seq: number, vtype: number, num: number | null, txt: string | null): void {
  const value = vtype === 1 && num !== null && !Number.isNaN(num) ? num : null;
  if (isLater(step, dt, seq, into)) {
    into.step = step;
    into.dt = dt;
    into.seq = seq;
    into.vtype = vtype;
    into.num = value;
    into.txt = vtype >= 2 ? txt : null;
  }
  if (value !== null) {
    into.lo = into.lo === null ? value : Math.min(into.lo, value);
    into.hi = into.hi === null ? value : Math.max(into.hi, value);
  }
  if (vtype === 1) into.numbers++;
}

/** A stored summary as `summarize` answers it. */
export function toEventSummary(r: Pick<SummaryRow, "run" | "event" | "key" | "step" | "dt" | "vtype" | "num" | "txt" | "lo" | "hi" | "numbers">): EventSummary {
  const valueType = EVENT_VALUE_TYPES[r.vtype] ?? "none";
  const summary: EventSummary = { run: r.run, event: r.event, key: r.key, step: r.step, dt: r.dt, valueType, numbers: r.numbers };
  if (valueType === "number") summary.number = r.num ?? NaN;
  else if (r.txt !== null && r.txt !== undefined) summary.text = r.txt;
  if (r.lo !== null && r.lo !== undefined) summary.min = r.lo;
  if (r.hi !== null && r.hi !== undefined) summary.max = r.hi;
  return summary;
}
