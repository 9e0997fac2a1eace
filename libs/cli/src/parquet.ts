import { asyncBufferFromFile, parquetMetadataAsync, parquetRead, parquetSchema, type ColumnData, type DecodedArray, type SchemaElement } from "hyparquet";
import { fileWriter, ParquetWriter } from "hyparquet-writer";
import {
  Binary,
  Bool,
  DataType,
  DateDay,
  Field,
  Float32,
  Float64,
  Int,
  Int32,
  Int64,
  Precision,
  RecordBatch,
  Schema,
  Struct,
  TimestampMillisecond,
  Utf8,
  makeData,
  makeVector,
  type Data,
  type Decimal,
  type Dictionary,
  type Float,
  type Vector,
} from "apache-arrow";
import { columnsToBatch, jsonValue } from "@kiln/data";

/**
 * A Parquet file as record batches, one row group at a time (hyparquet: pure JS, no
 * native download), each column typed by the file's schema: INT32 as Int32 (INT_8 and
 * the like as theirs), INT64 as Int64, FLOAT as Float32, DOUBLE as Float64, strings as
 * Utf8, timestamps as Timestamp, DATE as DateDay, other byte arrays as Binary, decimals
 * as Float64, and nested columns (lists, structs, maps) as their JSON text.
 */
export async function* readParquetFile(path: string): AsyncGenerator<RecordBatch> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  const columns = parquetSchema(metadata).children;
  const schema = new Schema(columns.map((c) => arrowField(c.element, c.children.length > 0)));
  // Top-level string columns are read as their UTF-8 bytes, which become the Arrow column as
  // they are: decoding them to JS strings for Arrow to encode again took ~80% of a read (a
  // million short strings: 1.3–1.5 s against 0.25–0.30 s). Nested ones stay strings, for their
  // JSON text (bytes there would read as binary).
  const asBytes = new Set(columns.filter((c) => c.children.length === 0 && isText(c.element)).map((c) => c.element.name));
  const others = columns.map((c) => c.element.name).filter((name) => !asBytes.has(name));
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    // Column by column, not as row objects: a million-row group took 1.1 GB and 4.6 s as objects.
    const pieces = new Map<string, ColumnData[]>();
    const onChunk = (c: ColumnData) => void (pieces.get(c.columnName) ?? pieces.set(c.columnName, []).get(c.columnName)!).push(c);
    if (asBytes.size) await parquetRead({ file, metadata, rowStart, rowEnd, columns: [...asBytes], utf8: false, parsers: { stringFromBytes: (bytes) => bytes as unknown as string }, onChunk });
    if (others.length) await parquetRead({ file, metadata, rowStart, rowEnd, columns: others, utf8: false, onChunk });
    const children = schema.fields.map((f) => {
      const values = columnValues(pieces.get(f.name) ?? [], rowStart, rowEnd);
      return asBytes.has(f.name) ? utf8FromBytes(values as ArrayLike<Uint8Array | null | undefined>) : columnVector(f, values);
    });
    yield new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rowEnd - rowStart, children, nullCount: 0 }));
    rowStart = rowEnd;
  }
  if (rowStart === 0) yield new RecordBatch(schema);
}

/** A column's values for rows [start, end) from the pieces hyparquet decoded (which may reach past that range). */
function columnValues(pieces: ColumnData[], start: number, end: number): ArrayLike<unknown> {
  const covering = pieces.length === 1 && pieces[0]!.rowStart === start && pieces[0]!.rowEnd === end ? pieces[0]!.columnData : undefined;
  if (covering) return covering;
  const values = new Array<unknown>(end - start).fill(null);
  for (const { columnData, rowStart } of pieces) {
    for (let i = Math.max(start, rowStart); i < Math.min(end, rowStart + columnData.length); i++) values[i - start] = columnData[i - rowStart];
  }
  return values;
}

/** A string column's Arrow data from each value's UTF-8 bytes (null or undefined: null). */
function utf8FromBytes(values: ArrayLike<Uint8Array | null | undefined>): Data {
  const length = values.length;
  const valueOffsets = new Int32Array(length + 1);
  const nullBitmap = new Uint8Array((length + 7) >> 3);
  let nullCount = 0;
  for (let i = 0; i < length; i++) {
    const value = values[i];
    if (value == null) nullCount++;
    else nullBitmap[i >> 3]! |= 1 << (i & 7);
    valueOffsets[i + 1] = valueOffsets[i]! + (value?.length ?? 0);
  }
  const data = new Uint8Array(valueOffsets[length]!);
  for (let i = 0; i < length; i++) {
    const value = values[i];
    if (value) data.set(value, valueOffsets[i]!);
  }
  return makeData({ type: new Utf8(), length, nullCount, nullBitmap: nullCount ? nullBitmap : undefined, valueOffsets, data });
}

/** A column's Arrow data: a typed array of the column's own type as it is, anything else value by value (checked to fit). */
function columnVector(field: Field, values: ArrayLike<unknown>): Data {
  const same = TYPED_ARRAYS.find(([is, Typed]) => is(field.type) && values instanceof Typed);
  if (same) return makeVector(values as Float64Array).data[0]!;
  return columnsToBatch({ [field.name]: values }, new Schema([field]), "the Parquet file's schema").data.children[0]!;
}

/** Typed arrays whose values Arrow takes as a column of that type as they are. */
const TYPED_ARRAYS: [(t: DataType) => boolean, new (n: number) => ArrayLike<unknown>][] = [
  [(t) => DataType.isFloat(t) && (t as Float).precision === Precision.DOUBLE, Float64Array],
  [(t) => DataType.isFloat(t) && (t as Float).precision === Precision.SINGLE, Float32Array],
  [(t) => DataType.isInt(t) && (t as Int).bitWidth === 32 && (t as Int).isSigned, Int32Array],
  [(t) => DataType.isInt(t) && (t as Int).bitWidth === 64 && (t as Int).isSigned, BigInt64Array],
];

function arrowField(e: SchemaElement, nested: boolean): Field {
  return new Field(e.name, nested ? new Utf8() : leafType(e), e.repetition_type !== "REQUIRED");
}

/** A byte array column of text that hyparquet hands to its stringFromBytes parser (JSON and UUID have parsers of their own; ENUM it leaves as bytes). */
function isText(e: SchemaElement): boolean {
  return e.type === "BYTE_ARRAY" && (e.converted_type === "UTF8" || e.converted_type === "ENUM" || e.logical_type?.type === "STRING" || e.logical_type?.type === "ENUM");
}

function leafType(e: SchemaElement): DataType {
  const logical = e.logical_type;
  const converted = e.converted_type;
  if (converted === "DECIMAL" || logical?.type === "DECIMAL") return new Float64();
  if (converted === "UTF8" || converted === "ENUM" || converted === "JSON" || ["STRING", "ENUM", "JSON", "UUID"].includes(logical?.type ?? "")) return new Utf8();
  if (converted?.startsWith("TIMESTAMP") || logical?.type === "TIMESTAMP" || e.type === "INT96") return new TimestampMillisecond();
  if (converted === "DATE" || logical?.type === "DATE") return new DateDay();
  const integer = logical?.type === "INTEGER" ? logical : INTEGERS[converted ?? ""];
  switch (e.type) {
    case "BOOLEAN":
      return new Bool();
    case "INT32":
    case "INT64":
      return integer ? new Int(integer.isSigned, integer.bitWidth as 8 | 16 | 32 | 64) : e.type === "INT32" ? new Int32() : new Int64();
    case "FLOAT":
      return new Float32();
    case "DOUBLE":
      return new Float64();
    default:
      return logical?.type === "FLOAT16" ? new Float32() : new Binary();
  }
}

const INTEGERS: Record<string, { bitWidth: number; isSigned: boolean }> = {
  INT_8: { bitWidth: 8, isSigned: true },
  INT_16: { bitWidth: 16, isSigned: true },
  INT_32: { bitWidth: 32, isSigned: true },
  INT_64: { bitWidth: 64, isSigned: true },
  UINT_8: { bitWidth: 8, isSigned: false },
  UINT_16: { bitWidth: 16, isSigned: false },
  UINT_32: { bitWidth: 32, isSigned: false },
  UINT_64: { bitWidth: 64, isSigned: false },
};

type Column = { element: SchemaElement; values: (vector: Vector) => DecodedArray };

/**
 * Record batches as a Parquet file, a row group a batch, written as they come (hyparquet-
 * writer, pure JS). Types map as pandas and Spark read them back: integers, floats, booleans
 * and strings as themselves, Int64 exactly, timestamps as TIMESTAMP_MILLIS, dates as DATE,
 * binary as BYTE_ARRAY; decimals as DOUBLE, lists, structs and maps as JSON text.
 */
export async function writeParquetFile(batches: AsyncIterable<RecordBatch>, path: string): Promise<void> {
  let writer: ParquetWriter | undefined;
  let columns: Column[] = [];
  for await (const batch of batches) {
    if (!writer) {
      columns = batch.schema.fields.map(parquetColumn);
      const root: SchemaElement = { name: "root", num_children: columns.length };
      writer = new ParquetWriter({ writer: fileWriter(path), schema: [root, ...columns.map((c) => c.element)], createdBy: "kiln" });
    }
    if (batch.numRows === 0) continue;
    const columnData = columns.map((c, i) => ({ name: c.element.name, data: c.values(batch.getChildAt(i)!) }));
    await writer.write({ columnData, rowGroupSize: batch.numRows });
  }
  if (!writer) throw new Error("no table to write: the rows came without their columns");
  await writer.finish();
}

function parquetColumn(field: Field): Column {
  const element = (e: Omit<SchemaElement, "name" | "repetition_type">): SchemaElement => ({ name: field.name, repetition_type: field.nullable ? "OPTIONAL" : "REQUIRED", ...e });
  const type = DataType.isDictionary(field.type) ? (field.type as Dictionary).dictionary : field.type;
  const each = (map: (v: unknown) => unknown) => (vector: Vector) => Array.from({ length: vector.length }, (_, i) => {
    const v = vector.get(i);
    return v === null || v === undefined ? null : map(v);
  }) as DecodedArray;
  const same = each((v) => v);
  // Values without nulls straight from their typed array (a 64-bit one holds bigints, as INT64 takes them).
  const typed = (vector: Vector) => (vector.nullCount === 0 && !DataType.isDictionary(vector.type) ? (vector.toArray() as DecodedArray) : same(vector));
  if (DataType.isBool(type)) return { element: element({ type: "BOOLEAN" }), values: same };
  if (DataType.isInt(type)) {
    const { bitWidth, isSigned } = type as Int;
    if (bitWidth === 64) return { element: element({ type: "INT64", ...(isSigned ? {} : { converted_type: "UINT_64" }) }), values: typed };
    if (bitWidth === 32 && !isSigned) return { element: element({ type: "INT64" }), values: each((v) => BigInt(v as number)) };
    const converted = `${isSigned ? "INT" : "UINT"}_${bitWidth}` as SchemaElement["converted_type"];
    return { element: element({ type: "INT32", ...(bitWidth < 32 ? { converted_type: converted } : {}) }), values: typed };
  }
  if (DataType.isFloat(type)) {
    const precision = (type as Float).precision;
    // A half float's typed array holds its bits: its values come one by one.
    return { element: element({ type: precision === Precision.DOUBLE ? "DOUBLE" : "FLOAT" }), values: precision === Precision.HALF ? same : typed };
  }
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return { element: element({ type: "BYTE_ARRAY", converted_type: "UTF8" }), values: same };
  if (DataType.isBinary(type) || DataType.isLargeBinary(type) || DataType.isFixedSizeBinary(type)) return { element: element({ type: "BYTE_ARRAY" }), values: same };
  if (DataType.isTimestamp(type)) return { element: element({ type: "INT64", converted_type: "TIMESTAMP_MILLIS" }), values: each((v) => BigInt(Math.round(Number(v)))) };
  if (DataType.isDate(type)) return { element: element({ type: "INT32", converted_type: "DATE" }), values: each((v) => Math.floor(Number(v) / DAY_MS)) };
  if (DataType.isDecimal(type)) return { element: element({ type: "DOUBLE" }), values: each((v) => Number(v) / 10 ** (type as Decimal).scale) };
  // Lists, structs, maps and the rest: their JSON, as the JSON outputs write them.
  return { element: element({ type: "BYTE_ARRAY", converted_type: "JSON" }), values: each((v) => jsonValue(v, type)) };
}

const DAY_MS = 86_400_000;
