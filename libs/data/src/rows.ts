import {
  Bool,
  DataType,
  DateUnit,
  type Int,
  Float64,
  Int64,
  Precision,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  makeData,
  vectorFromArray,
  type Date_ as DateType,
  type Vector,
} from "apache-arrow";
import { DataFormatError } from "./errors.js";

/**
 * How JavaScript values become Arrow columns (and come back unchanged):
 * number → Float64 (JS numbers are doubles, so the round trip is exact), bigint → Int64,
 * string → Utf8, boolean → Bool, Date → Timestamp(ms), objects and arrays → Utf8 JSON.
 * null/undefined are nulls. Typed arrays in a column dict keep their own type.
 */
export function inferType(values: Iterable<unknown>): DataType {
  let type: "number" | "bigint" | "string" | "boolean" | "date" | "json" | undefined;
  let fractions = false;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    const t = typeof v === "number" ? "number" : typeof v === "bigint" ? "bigint" : typeof v === "string" ? "string" : typeof v === "boolean" ? "boolean" : v instanceof Date ? "date" : "json";
    if (t === "number" && !Number.isInteger(v)) fractions = true;
    if (type === undefined) type = t;
    else if (type !== t) {
      if ((type === "number" && t === "bigint") || (type === "bigint" && t === "number")) type = "bigint";
      else type = type === "json" || t === "json" ? "json" : "string";
    }
  }
  // Whole numbers beside integers a double cannot hold (ids past 2^53) are Int64, so none rounds.
  if (type === "bigint" && fractions) type = "number";
  switch (type) {
    case "number":
      return new Float64();
    case "bigint":
      return new Int64();
    case "boolean":
      return new Bool();
    case "date":
      return new TimestampMillisecond();
    default:
      return new Utf8();
  }
}

function normalise(value: unknown, type: DataType): unknown {
  if (value === undefined || value === null) return null;
  if (DataType.isUtf8(type) && typeof value !== "string") return typeof value === "object" && !(value instanceof Date) ? JSON.stringify(value, bigintAsJson) : String(value);
  if (DataType.isFloat(type) && typeof value === "bigint") return Number(value);
  if (DataType.isInt(type) && (type as Int).bitWidth === 64 && typeof value === "number") return BigInt(value);
  if ((DataType.isTimestamp(type) || DataType.isDate(type)) && value instanceof Date) return value.getTime();
  if ((DataType.isTimestamp(type) || DataType.isDate(type)) && typeof value === "string") return parseTimestamp(value);
  return value;
}

/** Whether a value belongs in a column of this type (text takes anything, as its text). */
function fits(value: unknown, type: DataType): boolean {
  if (value === undefined || value === null || DataType.isUtf8(type)) return true;
  if (DataType.isBool(type)) return typeof value === "boolean";
  if (DataType.isInt(type)) return typeof value === "bigint" || (typeof value === "number" && Number.isInteger(value));
  if (DataType.isFloat(type)) return typeof value === "number" || typeof value === "bigint";
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return value instanceof Date || typeof value === "number" || (typeof value === "string" && Number.isFinite(parseTimestamp(value)));
  if (DataType.isBinary(type)) return value instanceof Uint8Array;
  return true;
}

/** A 64-bit integer in JSON text, as the JSON outputs write it: a number when a double holds it exactly, else its digits as a string. */
function bigintAsJson(_key: string, value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
}

/** Builds a column of the given type from plain values. */
export function columnFromValues(values: unknown[], type: DataType): Vector {
  return vectorFromArray(values.map((v) => normalise(v, type)), type);
}

export function rowsToTable(rows: Record<string, unknown>[]): Table {
  const names: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) for (const k of Object.keys(row)) if (!seen.has(k)) seen.add(k), names.push(k);
  const columns: Record<string, Vector> = {};
  for (const name of names) {
    const values = rows.map((r) => r[name]);
    columns[name] = columnFromValues(values, inferType(values));
  }
  return new Table(columns);
}

/**
 * Rows into a batch of an existing schema (later NDJSON or JSON batches must match the first
 * one's, or the dataset's they are appended to: `schemaFrom`): a value of another type, or a
 * column the schema lacks, is a DataFormatError naming its row (counted from 1 after
 * `rowsBefore`) rather than a value coerced or dropped; text in a timestamp column is read
 * as a timestamp.
 */
export function rowsToBatch(rows: Record<string, unknown>[], schema: Schema, rowsBefore = 0, schemaFrom = "the first rows"): RecordBatch {
  const known = new Set(schema.fields.map((f) => f.name));
  rows.forEach((row, i) => {
    for (const name of Object.keys(row)) {
      if (!known.has(name)) throw new DataFormatError(`row ${rowsBefore + i + 1} has a column "${name}" not in ${schemaFrom} (columns come from ${schemaFrom})`);
    }
  });
  return checkedBatch(schema, rows.length, (name) => rows.map((r) => r[name]), rowsBefore, schemaFrom);
}

/** A batch of the schema from each column's values, every value checked to fit its column. */
function checkedBatch(schema: Schema, length: number, valuesOf: (column: string) => unknown[], rowsBefore: number, schemaFrom: string): RecordBatch {
  const children = schema.fields.map((f) => {
    const values = valuesOf(f.name);
    const bad = values.findIndex((v) => !fits(v, f.type));
    if (bad >= 0) throw new DataFormatError(`row ${rowsBefore + bad + 1}, column "${f.name}": ${shown(values[bad])} is not ${f.type} (types come from ${schemaFrom})`);
    return columnFromValues(values, f.type).data[0];
  });
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, children, nullCount: 0 }));
}

function shown(value: unknown): string {
  const text = typeof value === "bigint" ? value.toString() : JSON.stringify(value, bigintAsJson) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/**
 * A dict of equal-length columns as a batch of an existing schema (the dataset's it is
 * appended to), checked as rowsToBatch checks rows: a column the schema lacks, or a value
 * that does not fit its column, is a DataFormatError; a column it lacks is all nulls.
 */
export function columnsToBatch(columns: Record<string, ArrayLike<unknown>>, schema: Schema, schemaFrom: string): RecordBatch {
  const known = new Set(schema.fields.map((f) => f.name));
  for (const name of Object.keys(columns)) {
    if (!known.has(name)) throw new DataFormatError(`column "${name}" is not in ${schemaFrom} (columns come from ${schemaFrom})`);
  }
  const length = Object.values(columns)[0]?.length ?? 0;
  return checkedBatch(schema, length, (name) => (columns[name] ? Array.from(columns[name]!) : new Array<unknown>(length).fill(null)), 0, schemaFrom);
}

export function columnsToTable(columns: Record<string, ArrayLike<unknown>>): Table {
  const vectors: Record<string, Vector> = {};
  for (const [name, column] of Object.entries(columns)) {
    if (ArrayBuffer.isView(column)) {
      vectors[name] = vectorFromArray(column as never);
    } else {
      const values = Array.from(column);
      vectors[name] = columnFromValues(values, inferType(values));
    }
  }
  return new Table(vectors);
}

/** Plain JS values back: Int64 as number when safe, timestamps as Date. */
export function plainValue(value: unknown, type: DataType): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return Number.isSafeInteger(Number(value)) ? Number(value) : value;
  if (DataType.isTimestamp(type) || DataType.isDate(type)) return new Date(Number(value));
  return value;
}

/**
 * A value as text formats write it: plainValue, but a Float32 as the shortest decimal that
 * reads back as the same float32 (0.9, not 0.8999999761581421, as numpy prints it), and a
 * DateDay as its day.
 */
export function textValue(value: unknown, type: DataType): unknown {
  if (typeof value === "number" && DataType.isFloat(type) && type.precision === Precision.SINGLE) return shortestFloat32(value);
  // A day is written as one (2026-12-04), as pandas and SQL write dates, not as a midnight.
  if (value !== null && value !== undefined && DataType.isDate(type) && (type as DateType).unit === DateUnit.DAY) return new Date(Number(value)).toISOString().slice(0, 10);
  return plainValue(value, type);
}

const MIN_NORMAL_FLOAT32 = 2 ** -126;
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact doubles

/** The shortest decimal (as a double) whose float32 is this float32's value. */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const magnitude = Math.abs(x);
  if (magnitude >= 1e-7 && magnitude < 1e9) {
    // Round to 6, 7, 8, 9 significant digits with exact powers of ten (toPrecision costs twice as much).
    // Six digits always fit in a normal float32's precision, so a shorter decimal that reads back shows at six.
    const exponent = Math.floor(Math.log10(magnitude));
    for (let places = 5 - exponent; places <= 8 - exponent; places++) {
      const decimal = places >= 0 ? Math.round(x * POWERS_OF_TEN[places]!) / POWERS_OF_TEN[places]! : Math.round(x / POWERS_OF_TEN[-places]!) * POWERS_OF_TEN[-places]!;
      if (Math.fround(decimal) === x) return decimal;
    }
  }
  // A subnormal has fewer digits of precision than six.
  for (let digits = magnitude < MIN_NORMAL_FLOAT32 ? 1 : 6; digits < 9; digits++) {
    const shorter = Number(x.toPrecision(digits));
    if (Math.fround(shorter) === x) return shorter;
  }
  return Number(x.toPrecision(9)); // nine significant digits always round-trip a float32
}

export function tableToRows(table: Table | RecordBatch): Record<string, unknown>[] {
  const fields = table.schema.fields;
  const vectors = fields.map((f) => table.getChild(f.name)!);
  const rows: Record<string, unknown>[] = new Array(table.numRows);
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    fields.forEach((f, c) => (row[f.name] = plainValue(vectors[c].get(i), f.type)));
    rows[i] = row;
  }
  return rows;
}

export function tableToColumns(table: Table): Record<string, unknown[] | ArrayLike<unknown>> {
  const out: Record<string, unknown[] | ArrayLike<unknown>> = {};
  for (const f of table.schema.fields) {
    const v = table.getChild(f.name)!;
    const numeric = DataType.isFloat(f.type) || (DataType.isInt(f.type) && f.type.bitWidth < 64);
    out[f.name] = numeric && v.nullCount === 0 ? v.toArray() : Array.from({ length: v.length }, (_, i) => plainValue(v.get(i), f.type));
  }
  return out;
}

/**
 * A timestamp's text as ms since the epoch, one without a zone ("2026-12-04 08:00", a
 * date alone) read as UTC: its meaning must not depend on the zone of the machine that
 * reads it, as Date.parse's would (local time). NaN if it is no timestamp.
 */
export function parseTimestamp(text: string): number {
  const s = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return Date.parse(`${s}T00:00:00Z`);
  const naive = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(:\d{2}(\.\d+)?)?)$/.exec(s);
  if (naive) return Date.parse(`${naive[1]}T${naive[2]}Z`);
  return Date.parse(s);
}
