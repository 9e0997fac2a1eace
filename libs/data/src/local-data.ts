import { tableFromArrays, type Table } from "apache-arrow";
import { DataFormatError } from "./errors.js";
import { columnsToTable, rowsToTable } from "./rows.js";

/**
 * Local data as a job reads it, from plain JSON values. Named data keeps its names; positional
 * data has none, so its columns in order are the features: rows of numbers (sklearn's X)
 * become float columns x0…x{k-1}, and a vector of numbers or strings (sklearn's y) one
 * column "y".
 */
export interface LocalTable {
  table: Table;
  positional: boolean;
}

/**
 * JSON data as a table: an array of row objects, an object of equal-length columns, an
 * array of number arrays (positional) or an array of numbers or strings (one column "y").
 * Anything else is a DataFormatError saying which forms are taken.
 */
export function jsonTable(value: unknown): LocalTable {
  if (isNumberRows(value)) return { table: positionalTable(value), positional: true };
  if (isRowObjects(value)) return { table: rowsToTable(value), positional: false };
  if (isLabels(value)) return { table: labelsTable(value), positional: true };
  if (isColumnDict(value)) return { table: columnsToTable(value), positional: false };
  throw new DataFormatError(
    `takes an array of row objects, an object of equal-length column arrays, an array of number arrays (rows as sklearn's X) or an array of numbers or strings (targets); got ${describeValue(value)}`,
  );
}

/** Rows of numbers, all as wide, as sklearn's X: one Float64 column per position, x0…x{k-1}. */
export function positionalTable(rows: readonly (readonly number[])[]): Table {
  const width = rows[0]?.length ?? 0;
  const columns: Record<string, Float64Array> = {};
  for (let j = 0; j < width; j++) {
    const column = new Float64Array(rows.length);
    for (let i = 0; i < rows.length; i++) column[i] = rows[i]![j]!;
    columns[`x${j}`] = column;
  }
  return tableFromArrays(columns);
}

/** A vector of targets, as sklearn's y: one column "y". */
export function labelsTable(values: readonly (number | string)[]): Table {
  return values.every((v) => typeof v === "number") ? tableFromArrays({ y: Float64Array.from(values as number[]) }) : columnsToTable({ y: values.map(String) });
}

export function isNumberRows(v: unknown): v is number[][] {
  if (!Array.isArray(v) || v.length === 0 || !Array.isArray(v[0])) return false;
  const width = (v[0] as unknown[]).length;
  return width > 0 && v.every((row) => Array.isArray(row) && row.length === width && row.every((x) => typeof x === "number"));
}

export function isLabels(v: unknown): v is (number | string)[] {
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number" || typeof x === "string");
}

/** A non-empty array of plain objects, one per row. */
export function isRowObjects(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.length > 0 && v.every(isPlainObject);
}

/** A plain object of equal-length, non-empty columns: typed arrays, or arrays of scalars (null, number, string, boolean, bigint, Date). */
export function isColumnDict(v: unknown): v is Record<string, ArrayLike<unknown>> {
  if (!isPlainObject(v)) return false;
  const columns = Object.values(v);
  const isColumn = (c: unknown) =>
    (ArrayBuffer.isView(c) && !(c instanceof DataView)) ||
    (Array.isArray(c) && c.every((x) => x === null || ["number", "string", "boolean", "bigint"].includes(typeof x) || x instanceof Date));
  if (columns.length === 0 || !columns.every(isColumn)) return false;
  const length = (columns[0] as ArrayLike<unknown>).length;
  return length > 0 && columns.every((c) => (c as ArrayLike<unknown>).length === length);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

/** What a value that is no table is, in words, for errors: "an empty array", "an object whose values are not column arrays of one length"... */
export function describeValue(value: unknown): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return "an empty array";
    if (isNumberRows(value.slice(0, 1))) return "arrays of numbers of different lengths, or with other values";
    return "an array mixing kinds of values";
  }
  if (isPlainObject(value)) {
    const columns = Object.values(value);
    if (columns.length === 0) return "an empty object";
    if (columns.every((c) => Array.isArray(c) && c.length === 0)) return "columns with no rows";
    return "an object whose values are not column arrays of one length";
  }
  return value === null ? "null" : `a ${typeof value}`;
}
