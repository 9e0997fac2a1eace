import { EVENT_VALUE_TYPES, type EventSummary } from "./event-store.js";

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
export function isLater(step: number, dt: number, seq: number, than: { step: number; dt: number; seq: number }): boolean {
  return step > than.step || (step === than.step && (dt > than.dt || (dt === than.dt && seq > than.seq)));
}

/** Folds events into one summary per (experiment, run, event, key), so that an append writes each once. */
export class SummaryAccumulator {
  private readonly rows = new Map<string, SummaryRow>();

  /** `num`: the number of a number event, NaN as it is. */
  add(experiment: string, run: number, event: string, key: string, step: number, dt: number, seq: number, vtype: number, num: number | null, txt: string | null): void {
    const id = `${experiment}\u0000${run}\u0000${event}\u0000${key}`;
    const isNumber = vtype === 1;
    /** The number, unless it is NaN (kept as null, as SQLite keeps it). */
    const value = isNumber && num !== null && !Number.isNaN(num) ? num : null;
    const latest = { vtype, num: value, txt: vtype >= 2 ? txt : null };
    const had = this.rows.get(id);
    if (!had) {
      this.rows.set(id, { experiment, run, event, key, step, dt, seq, ...latest, lo: value, hi: value, numbers: isNumber ? 1 : 0 });
      return;
    }
    if (isLater(step, dt, seq, had)) Object.assign(had, { step, dt, seq, ...latest });
    if (value !== null) {
      had.lo = had.lo === null ? value : Math.min(had.lo, value);
      had.hi = had.hi === null ? value : Math.max(had.hi, value);
    }
    if (isNumber) had.numbers++;
  }

  values(): IterableIterator<SummaryRow> {
    return this.rows.values();
  }

  get size(): number {
    return this.rows.size;
  }
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
