import { DataType, type Field, type RecordBatch, type Schema, type Vector } from "apache-arrow";
import { FilterSyntaxError } from "./errors.js";
import type { CompareOp, FilterExpr, Literal } from "./filter-parser.js";
import { parseTimestamp } from "./rows.js";

/** Picks the rows of a batch that a filter keeps, as ascending row indices. */
export type RowFilter = (batch: RecordBatch) => Uint32Array;

// Three-valued logic as SQL has it: a comparison with null is unknown, and only
// rows whose filter is TRUE are kept.
const FALSE = 0;
const TRUE = 1;
const UNKNOWN = 2;
type Mask = Uint8Array;

type ColumnKind = "number" | "bigint" | "string" | "boolean" | "time";

/** Checks the filter against the schema (columns exist, literals fit their types) and compiles it. */
export function compileFilter(expr: FilterExpr, schema: Schema): RowFilter {
  const kinds = new Map(schema.fields.map((f) => [f.name, columnKind(f)]));
  check(expr, kinds);
  return (batch) => {
    const mask = evaluate(expr, batch);
    let n = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] === TRUE) n++;
    const out = new Uint32Array(n);
    for (let i = 0, j = 0; i < mask.length; i++) if (mask[i] === TRUE) out[j++] = i;
    return out;
  };
}

function columnKind(f: Field): ColumnKind | undefined {
  const t = f.type;
  if (DataType.isDictionary(t)) return columnKind({ ...f, type: t.dictionary } as Field);
  if (DataType.isInt(t)) return t.bitWidth === 64 ? "bigint" : "number";
  if (DataType.isFloat(t) || DataType.isDecimal(t)) return "number";
  if (DataType.isUtf8(t) || DataType.isLargeUtf8(t)) return "string";
  if (DataType.isBool(t)) return "boolean";
  if (DataType.isTimestamp(t) || DataType.isDate(t)) return "time";
  return undefined;
}

function check(expr: FilterExpr, kinds: Map<string, ColumnKind | undefined>): void {
  switch (expr.type) {
    case "and":
    case "or":
      check(expr.left, kinds);
      check(expr.right, kinds);
      return;
    case "not":
      check(expr.expr, kinds);
      return;
  }
  if (!kinds.has(expr.column)) {
    throw new FilterSyntaxError(`unknown column "${expr.column}" (the table has ${[...kinds.keys()].join(", ")})`, expr.position);
  }
  const kind = kinds.get(expr.column);
  if (expr.type === "isNull") return;
  if (kind === undefined) throw new FilterSyntaxError(`column "${expr.column}" has a type filters cannot compare`, expr.position);
  const values = expr.type === "compare" ? [expr.value] : expr.values;
  for (const v of values) {
    if (v.kind === "null") continue;
    if (!fits(kind, v)) {
      throw new FilterSyntaxError(`column "${expr.column}" holds ${kind === "bigint" ? "number" : kind} values, not a ${v.kind}`, expr.position);
    }
  }
  if (expr.type === "compare" && kind === "boolean" && expr.op !== "=" && expr.op !== "!=") {
    throw new FilterSyntaxError(`boolean column "${expr.column}" compares only with = or !=`, expr.position);
  }
}

function fits(kind: ColumnKind, v: Literal): boolean {
  switch (kind) {
    case "number":
    case "bigint":
      return v.kind === "number";
    case "string":
      return v.kind === "string";
    case "boolean":
      return v.kind === "boolean";
    case "time":
      return v.kind === "number" || (v.kind === "string" && !Number.isNaN(parseTimestamp(v.value)));
  }
}

function evaluate(expr: FilterExpr, batch: RecordBatch): Mask {
  switch (expr.type) {
    case "and":
    case "or": {
      const a = evaluate(expr.left, batch);
      const b = evaluate(expr.right, batch);
      const isAnd = expr.type === "and";
      for (let i = 0; i < a.length; i++) {
        const x = a[i];
        const y = b[i];
        if (isAnd) a[i] = x === FALSE || y === FALSE ? FALSE : x === UNKNOWN || y === UNKNOWN ? UNKNOWN : TRUE;
        else a[i] = x === TRUE || y === TRUE ? TRUE : x === UNKNOWN || y === UNKNOWN ? UNKNOWN : FALSE;
      }
      return a;
    }
    case "not": {
      const a = evaluate(expr.expr, batch);
      for (let i = 0; i < a.length; i++) a[i] = a[i] === UNKNOWN ? UNKNOWN : a[i] === TRUE ? FALSE : TRUE;
      return a;
    }
    case "isNull": {
      const vector = batch.getChild(expr.column)!;
      const mask = new Uint8Array(batch.numRows);
      for (let i = 0; i < mask.length; i++) mask[i] = vector.isValid(i) === expr.negated ? TRUE : FALSE;
      return mask;
    }
    case "compare":
      return compareColumn(batch.getChild(expr.column)!, batch.numRows, (x) => compare(x, expr.op, expr.value));
    case "in": {
      const wanted = expr.values.filter((v) => v.kind !== "null");
      const hasNull = wanted.length < expr.values.length;
      return compareColumn(batch.getChild(expr.column)!, batch.numRows, (x) => {
        const found = wanted.some((v) => compare(x, "=", v) === TRUE);
        if (found) return expr.negated ? FALSE : TRUE;
        if (hasNull) return UNKNOWN; // x IN (…, NULL) is unknown when x matches nothing
        return expr.negated ? TRUE : FALSE;
      });
    }
  }
}

/** Applies a test to every value; fast over the typed array for numeric columns. */
function compareColumn(vector: Vector, rows: number, test: (x: unknown) => number): Mask {
  const mask = new Uint8Array(rows);
  const hasNulls = vector.nullCount > 0;
  const t = vector.type;
  if ((DataType.isInt(t) || DataType.isFloat(t)) && vector.data.length === 1) {
    const values = vector.toArray() as ArrayLike<number | bigint>;
    for (let i = 0; i < rows; i++) mask[i] = hasNulls && !vector.isValid(i) ? UNKNOWN : test(values[i]);
    return mask;
  }
  for (let i = 0; i < rows; i++) {
    const x = vector.get(i);
    mask[i] = x === null || x === undefined ? UNKNOWN : test(x);
  }
  return mask;
}

function compare(x: unknown, op: CompareOp, lit: Literal): number {
  if (lit.kind === "null") return UNKNOWN;
  let a: number | bigint | string | boolean;
  let b: number | bigint | string | boolean;
  if (typeof x === "bigint" && lit.kind === "number" && lit.integer !== undefined) {
    a = x; // both exact: an Int64 past 2^53 against a whole number written out
    b = lit.integer;
  } else if (typeof x === "bigint") {
    a = Number(x);
    b = lit.value as number;
  } else if (x instanceof Date || (typeof x === "number" && lit.kind === "string")) {
    a = x instanceof Date ? x.getTime() : x;
    b = parseTimestamp(lit.value as string);
  } else {
    a = x as number | string | boolean;
    b = lit.value;
  }
  switch (op) {
    case "=":
      return a === b ? TRUE : FALSE;
    case "!=":
      return a !== b ? TRUE : FALSE;
    case "<":
      return a < b ? TRUE : FALSE;
    case "<=":
      return a <= b ? TRUE : FALSE;
    case ">":
      return a > b ? TRUE : FALSE;
    case ">=":
      return a >= b ? TRUE : FALSE;
  }
}

/**
 * The same filter over plain objects (e.g. resource listings): `get` returns a field's
 * value, undefined when absent (treated as null). No schema, so literals compare as given.
 */
export function matchesFilter(expr: FilterExpr, get: (column: string) => unknown): boolean {
  const value = (e: FilterExpr): number => {
    switch (e.type) {
      case "and": {
        const a = value(e.left);
        const b = value(e.right);
        return a === FALSE || b === FALSE ? FALSE : a === UNKNOWN || b === UNKNOWN ? UNKNOWN : TRUE;
      }
      case "or": {
        const a = value(e.left);
        const b = value(e.right);
        return a === TRUE || b === TRUE ? TRUE : a === UNKNOWN || b === UNKNOWN ? UNKNOWN : FALSE;
      }
      case "not": {
        const a = value(e.expr);
        return a === UNKNOWN ? UNKNOWN : a === TRUE ? FALSE : TRUE;
      }
      case "isNull": {
        const x = get(e.column);
        return (x === null || x === undefined) !== e.negated ? TRUE : FALSE;
      }
      case "compare": {
        const x = get(e.column);
        return x === null || x === undefined ? UNKNOWN : compare(x, e.op, e.value);
      }
      case "in": {
        const x = get(e.column);
        if (x === null || x === undefined) return UNKNOWN;
        const found = e.values.some((v) => compare(x, "=", v) === TRUE);
        return found !== e.negated ? TRUE : FALSE;
      }
    }
  };
  return value(expr) === TRUE;
}
