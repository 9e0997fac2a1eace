import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type DecodedArray, type SchemaElement } from "hyparquet";
import { fileWriter, ParquetWriter } from "hyparquet-writer";
import { DataType, Precision, type Decimal, type Dictionary, type Field, type Float, type Int, type RecordBatch, type Schema, type Vector } from "apache-arrow";
import { jsonValue, rowsToBatch, rowsToTable } from "@kiln/data";

/**
 * A Parquet file as record batches, one row group at a time (hyparquet: pure JS, no
 * native download). The first row group's inferred schema holds for the rest.
 */
export async function* readParquetFile(path: string): AsyncGenerator<RecordBatch> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  let schema: Schema | undefined;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = (await parquetReadObjects({ file, metadata, rowStart, rowEnd })) as Record<string, unknown>[];
    rowStart = rowEnd;
    if (!schema) {
      const table = rowsToTable(rows);
      schema = table.schema;
      yield* table.batches;
    } else {
      yield rowsToBatch(rows, schema);
    }
  }
}

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
  if (DataType.isFloat(type)) return { element: element({ type: (type as Float).precision === Precision.DOUBLE ? "DOUBLE" : "FLOAT" }), values: typed };
  if (DataType.isUtf8(type) || DataType.isLargeUtf8(type)) return { element: element({ type: "BYTE_ARRAY", converted_type: "UTF8" }), values: same };
  if (DataType.isBinary(type) || DataType.isLargeBinary(type) || DataType.isFixedSizeBinary(type)) return { element: element({ type: "BYTE_ARRAY" }), values: same };
  if (DataType.isTimestamp(type)) return { element: element({ type: "INT64", converted_type: "TIMESTAMP_MILLIS" }), values: each((v) => BigInt(Math.round(Number(v)))) };
  if (DataType.isDate(type)) return { element: element({ type: "INT32", converted_type: "DATE" }), values: each((v) => Math.floor(Number(v) / DAY_MS)) };
  if (DataType.isDecimal(type)) return { element: element({ type: "DOUBLE" }), values: each((v) => Number(v) / 10 ** (type as Decimal).scale) };
  // Lists, structs, maps and the rest: their JSON, as the JSON outputs write them.
  return { element: element({ type: "BYTE_ARRAY", converted_type: "JSON" }), values: each((v) => jsonValue(v, type)) };
}

const DAY_MS = 86_400_000;
