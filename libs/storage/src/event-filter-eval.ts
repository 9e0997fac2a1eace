import type { EventCondition, EventFilter } from "./event-filter.js";
import type { TrackedEvent } from "./event-store.js";

/** One event's columns as SQLite's tracking_events row holds them (`num` NULL for NaN, `txt` NULL unless text). */
export type EventValues = Pick<TrackedEvent, "run" | "event" | "dt" | "node" | "step" | "key"> & { vtype: number; num: number | null; txt: string | null };

/** SQL's three-valued logic: null is UNKNOWN. */
type Truth = boolean | null;

/**
 * Evaluates a checked filter on one event exactly as the SQLite backend's SQL does
 * (the same boolean structure, NULL for NaN numbers, strings in code point order like
 * SQLite's BINARY collation on UTF-8), so events stored as rows and as columnar batches
 * match the same filters. True only when the SQL would select the row.
 */
export function matchesFilter(f: EventFilter, e: EventValues): boolean {
  return evaluate(f, e) === true;
}

function evaluate(f: EventFilter, e: EventValues): Truth {
  switch (f.type) {
    case "and": {
      const l = evaluate(f.left, e);
      return l === false ? false : and(l, evaluate(f.right, e));
    }
    case "or": {
      const l = evaluate(f.left, e);
      return l === true ? true : or(l, evaluate(f.right, e));
    }
    case "not": {
      const inner = evaluate(f.expr, e);
      return inner === null ? null : !inner;
    }
    case "cond":
      return condition(f, e);
  }
}

function condition(c: EventCondition, e: EventValues): Truth {
  if (c.op === "isNull") return e.vtype === 0;
  if (c.op === "notNull") return e.vtype !== 0;
  if (c.column !== "value") {
    const actual = e[c.column];
    if (c.op === "in") return (c.values as (number | string)[]).some((v) => compare(actual, v) === 0);
    if (c.op === "notIn") return (c.values as (number | string)[]).every((v) => compare(actual, v) !== 0);
    return test(compare(actual, c.values[0]!), c.op);
  }
  // value: numbers compare with number events, strings with text and JSON events.
  const op = c.op === "in" ? "=" : c.op === "notIn" ? "!=" : c.op;
  const parts = c.values.map((v): Truth => {
    const kind = typeof v === "number" ? e.vtype === 1 : e.vtype === 2 || e.vtype === 3;
    if (!kind) return false;
    const actual = typeof v === "number" ? e.num : e.txt;
    return actual === null ? null : test(compare(actual, v), op);
  });
  // The SQL joins the parts with AND for NOT IN, with OR otherwise.
  return c.op === "notIn" ? parts.reduce(and, true) : parts.reduce(or, false);
}

function and(a: Truth, b: Truth): Truth {
  return a === false || b === false ? false : a === null || b === null ? null : true;
}

function or(a: Truth, b: Truth): Truth {
  return a === true || b === true ? true : a === null || b === null ? null : false;
}

function test(order: number, op: "=" | "!=" | "<" | "<=" | ">" | ">="): boolean {
  switch (op) {
    case "=":
      return order === 0;
    case "!=":
      return order !== 0;
    case "<":
      return order < 0;
    case "<=":
      return order <= 0;
    case ">":
      return order > 0;
    case ">=":
      return order >= 0;
  }
}

/** Numbers numerically; strings by code point, as SQLite compares UTF-8 bytes. */
function compare(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  const x = String(a);
  const y = String(b);
  if (x === y) return 0;
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x.codePointAt(i)!;
    const q = y.codePointAt(i)!;
    if (p !== q) return p - q;
    if (p > 0xffff) i++;
  }
  return x.length - y.length;
}
