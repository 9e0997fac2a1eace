import { invalidArgument } from "@kiln/core";
import { parseTimestamp, type FilterExpr, type Literal } from "@kiln/data";
import { EVENT_COLUMNS } from "./event-store.js";

/** A filter's comparisons, checked and normalized, for a backend to translate. */
export type EventCondition =
  | { column: "run" | "step" | "dt"; op: Op; values: number[] }
  | { column: "event" | "node" | "key"; op: Op; values: string[] }
  | { column: "value"; op: Op; values: (number | string)[] }
  | { column: "value"; op: "isNull" | "notNull"; values: [] };

export type Op = "=" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "notIn";

export type EventFilter = { type: "and" | "or"; left: EventFilter; right: EventFilter } | { type: "not"; expr: EventFilter } | ({ type: "cond" } & EventCondition);

const NUMERIC = new Set(["run", "step", "dt"]);

/** Checks columns and literal types, naming the position of anything wrong; dt literals become epoch ms. */
export function checkEventFilter(expr: FilterExpr): EventFilter {
  switch (expr.type) {
    case "and":
    case "or":
      return { type: expr.type, left: checkEventFilter(expr.left), right: checkEventFilter(expr.right) };
    case "not":
      return { type: "not", expr: checkEventFilter(expr.expr) };
    case "isNull":
      if (expr.column !== "value") throw bad(`only value can be NULL; ${expr.column} never is`, expr.position);
      return { type: "cond", column: "value", op: expr.negated ? "notNull" : "isNull", values: [] };
    case "compare":
    case "in": {
      const column = expr.column as (typeof EVENT_COLUMNS)[number];
      if (!EVENT_COLUMNS.includes(column)) throw bad(`unknown column "${expr.column}"; filter on ${EVENT_COLUMNS.join(", ")}`, expr.position);
      const literals = expr.type === "in" ? expr.values : [expr.value];
      const op: Op = expr.type === "in" ? (expr.negated ? "notIn" : "in") : expr.op;
      const values = literals.map((l) => literalFor(column, l, expr.position));
      return { type: "cond", column, op, values } as EventFilter;
    }
  }
}

function literalFor(column: string, l: Literal, position: number): number | string {
  if (column === "dt") {
    if (l.kind === "number") return l.value;
    const ms = l.kind === "string" ? parseTimestamp(l.value) : Number.NaN;
    if (!Number.isNaN(ms)) return ms;
    throw bad(`dt compares with an ISO 8601 time ("2026-01-31T12:00:00Z") or epoch milliseconds`, position);
  }
  if (NUMERIC.has(column)) {
    if (l.kind !== "number") throw bad(`${column} is a number`, position);
    return l.value;
  }
  if (column === "value") {
    if (l.kind === "number" || l.kind === "string") return l.value;
    throw bad("value compares with a number or a string", position);
  }
  if (l.kind !== "string") throw bad(`${column} is text: quote it`, position);
  return l.value;
}

function bad(detail: string, position: number) {
  return invalidArgument("INVALID_FILTER", `${detail} (at position ${position})`, { position: String(position) });
}

/**
 * The event kinds an event must be of to pass the filter (`event = "param" AND …`), or
 * undefined when the filter passes events of any kind: a store skips whole batches of
 * other kinds.
 */
export function requiredEventKinds(f: EventFilter): string[] | undefined {
  switch (f.type) {
    case "cond":
      return f.column === "event" && (f.op === "=" || f.op === "in") ? [...(f.values as string[])] : undefined;
    case "and":
      return intersectKinds(requiredEventKinds(f.left), requiredEventKinds(f.right));
    case "or": {
      const left = requiredEventKinds(f.left);
      const right = requiredEventKinds(f.right);
      return left && right ? [...new Set([...left, ...right])] : undefined;
    }
    case "not":
      return undefined;
  }
}

/** Kinds both allow; undefined (any kind) on either side leaves the other's. */
export function intersectKinds(a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.filter((kind) => b.includes(kind));
}
