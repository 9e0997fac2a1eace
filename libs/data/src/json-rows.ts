import { DataType, Precision, type RecordBatch, type Vector } from "apache-arrow";
import { shortestFloat32, textValue } from "./rows.js";

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonRow = { [column: string]: JsonValue };
/** Rows and their columns in order (an object's keys may lose it on the way). */
export interface JsonRowPiece {
  columns: string[];
  rows: JsonRow[];
}

/** About this many bytes of JSON in one piece of rows (a message of a JSON read). */
export const JSON_PIECE_BYTES = 1024 ** 2;

/**
 * Record batches as JSON rows with their columns, for clients without an Arrow library, in pieces of about
 * `pieceBytes` each (estimated as the rows are made) so no message outgrows its limit.
 * A batch with no rows gives no piece.
 */
export function* jsonRowPieces(batches: Iterable<RecordBatch>, pieceBytes = JSON_PIECE_BYTES): Generator<JsonRowPiece> {
  for (const batch of batches) {
    const columns = batch.schema.fields.map((f) => f.name);
    let rows: JsonRow[] = [];
    let bytes = 0;
    for (const row of batchJsonRows(batch)) {
      rows.push(row);
      for (const column of columns) bytes += column.length + estimatedBytes(row[column]!);
      if (bytes >= pieceBytes) {
        yield { columns, rows };
        rows = [];
        bytes = 0;
      }
    }
    if (rows.length) yield { columns, rows };
  }
}

/**
 * A record batch's rows as JSON text, a line each: what JSON.stringify makes of
 * batchJsonRows' objects, written without making them (half the time, a tenth the garbage).
 */
export function batchJsonLines(batch: RecordBatch): string[] {
  const fields = batch.schema.fields;
  const readers = fields.map((f) => columnReader(batch.getChild(f.name)!, f.type));
  const keys = fields.map((f, c) => (c ? "," : "{") + JSON.stringify(f.name) + ":");
  const lines = new Array<string>(batch.numRows);
  for (let i = 0; i < batch.numRows; i++) {
    let line = "";
    for (let c = 0; c < readers.length; c++) line += keys[c] + jsonText(readers[c]!(i));
    lines[i] = readers.length ? line + "}" : "{}";
  }
  return lines;
}

function jsonText(value: JsonValue): string {
  return typeof value === "number" ? String(value) : JSON.stringify(value); // finite: the readers gave null for the rest
}

/** A record batch's rows as JSON objects, one by one. */
export function* batchJsonRows(batch: RecordBatch): Generator<JsonRow> {
  const fields = batch.schema.fields;
  const readers = fields.map((f) => columnReader(batch.getChild(f.name)!, f.type));
  for (let i = 0; i < batch.numRows; i++) {
    const row: JsonRow = {};
    for (let c = 0; c < fields.length; c++) row[fields[c]!.name] = readers[c]!(i);
    yield row;
  }
}

/** A column's value at a row as JSON: straight from its typed array for numbers without nulls (most results). */
function columnReader(vector: Vector, type: DataType): (row: number) => JsonValue {
  if (vector.nullCount === 0 && DataType.isFloat(type) && type.precision !== Precision.HALF) {
    const values = vector.toArray() as Float32Array | Float64Array;
    if (type.precision === Precision.SINGLE) return (row) => finiteOrNull(shortestFloat32(values[row]!));
    return (row) => finiteOrNull(values[row]!);
  }
  if (vector.nullCount === 0 && DataType.isInt(type) && type.bitWidth < 64) {
    const values = vector.toArray() as Int32Array;
    return (row) => values[row]!;
  }
  return (row) => jsonValue(vector.get(row), type);
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** One Arrow value as JSON: see JsonRows in kiln/common/v1/table.proto for the mapping. */
export function jsonValue(value: unknown, type: DataType): JsonValue {
  const plain = textValue(value, type);
  if (plain === null || plain === undefined) return null;
  switch (typeof plain) {
    case "number":
      return Number.isFinite(plain) ? plain : null;
    case "bigint":
      return plain.toString();
    case "string":
    case "boolean":
      return plain;
  }
  if (plain instanceof Date) return Number.isNaN(plain.getTime()) ? null : plain.toISOString();
  if (plain instanceof Uint8Array) return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength).toString("base64");
  if (DataType.isList(type) || DataType.isFixedSizeList(type)) {
    const child = type.children[0]!.type;
    return Array.from(plain as Iterable<unknown>, (v) => jsonValue(v, child));
  }
  if (DataType.isStruct(type)) {
    const row = plain as Record<string, unknown>;
    return Object.fromEntries(type.children.map((f) => [f.name, jsonValue(row[f.name], f.type)]));
  }
  if (DataType.isMap(type)) {
    const [keyField, valueField] = (type.children[0]!.type as DataType).children as { type: DataType }[];
    return Object.fromEntries(Array.from(plain as Iterable<[unknown, unknown]>, ([k, v]) => [String(jsonValue(k, keyField!.type)), jsonValue(v, valueField!.type)]));
  }
  return String(plain); // decimals, intervals and the like: their text
}

function estimatedBytes(value: JsonValue): number {
  if (value === null || typeof value === "boolean") return 8;
  if (typeof value === "number") return 16;
  if (typeof value === "string") return value.length + 8;
  return JSON.stringify(value).length + 8;
}
