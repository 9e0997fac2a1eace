import { DataType, Precision, type Decimal, type RecordBatch, type Vector } from "apache-arrow";
import { matrixFromColumns, NonFiniteInputError, sharedBufferOf, type ColumnsFeed, type NumericColumn, type OnnxFeed, type OnnxFeeds, type OnnxTensorData } from "@kiln/onnx";
import type { TensorSignature } from "@kiln/sdk";
import type { FeedBuffers } from "./feed-buffers.js";
import { failedPrecondition } from "./job-failure.js";

/** A dataset column as the store describes it: Arrow type names such as "Float64", "Int64", "Utf8", "Bool". */
export interface ColumnInfo {
  name: string;
  type: string;
}

/** How rows of a table become a model's inputs. */
export interface FeaturePlan {
  /** The columns to read, in order. */
  columns: string[];
  /**
   * A batch's inputs; a matrix input is built in a buffer from `buffers` when given, or left
   * to the ONNX worker as columns when they all sit in shared memory (the feeds then read
   * the batch's memory until the run settles). `finite`: a matrix input's NaN or ±Infinity
   * fails with NonFiniteInputError (see `checksFinite`) where it is laid out.
   */
  feeds(batch: RecordBatch, buffers?: FeedBuffers, finite?: boolean): OnnxFeeds;
  /** Whether feeds(…, finite) checks every value: a single matrix input does, inputs per column do not. */
  checksFinite: boolean;
}

const NUMERIC = /^(Float|Int|Uint|Bool|Decimal)/i;

/** Whether a column of this Arrow type (its name, as the store describes it) holds numbers a model takes. */
export function isNumericType(type: string): boolean {
  return NUMERIC.test(type);
}
/** ONNX element types of a float matrix input, as the matrix type fed to it. */
export const FLOAT_INPUTS: Record<string, "float32" | "float64"> = { float32: "float32", float: "float32", float64: "float64", double: "float64" };

/**
 * Matches a table to a model's signature before anything runs, so a missing or mistyped
 * column fails the job at once with its name. A model with one numeric matrix input
 * [N, k] takes k numeric columns (the ones the job names, else the ones the model was
 * trained on, else all); a model with several inputs takes the columns named like them.
 */
export function planFeatures(inputs: TensorSignature[], table: ColumnInfo[], wanted: string[] | undefined): FeaturePlan {
  if (inputs.length === 0) throw failedPrecondition("NO_INPUTS", "the model declares no inputs");
  const byName = new Map(table.map((c) => [c.name, c]));
  const single = inputs.length === 1 ? inputs[0]! : undefined;
  if (single && single.shape?.length === 2 && FLOAT_INPUTS[single.elementType] && !byName.has(single.name)) {
    const columns = wanted?.length ? wanted : table.map((c) => c.name);
    const width = single.shape[1];
    // Counted before the types are checked: a table with one column too many (its target, say) is told so, not that the target is text.
    if (typeof width === "number" && width !== columns.length) {
      const hint = wanted?.length ? "" : `; name the ${width} to use as X's columns`;
      throw failedPrecondition("FEATURE_COUNT", `the model takes ${width} features in input "${single.name}" and the job gives ${columns.length} (${columns.join(", ")})${hint}`);
    }
    for (const name of columns) numericColumn(byName, name);
    return { columns, checksFinite: true, feeds: (batch, buffers, finite) => ({ [single.name]: matrixFeed(batch, columns, FLOAT_INPUTS[single.elementType]!, buffers, finite) }) };
  }
  for (const input of inputs) {
    const column = byName.get(input.name);
    if (!column) throw failedPrecondition("COLUMN_MISSING", `the model's input "${input.name}" has no column of that name in the data (columns: ${table.map((c) => c.name).join(", ")})`);
    const text = input.elementType === "string";
    if (text !== /^(Utf8|LargeUtf8|Dictionary)/i.test(column.type) || (!text && !NUMERIC.test(column.type))) {
      throw failedPrecondition("COLUMN_TYPE", `column "${column.name}" is ${column.type}, the model's input "${input.name}" takes ${input.elementType}`);
    }
  }
  return {
    columns: inputs.map((i) => i.name),
    checksFinite: false,
    feeds: (batch) => Object.fromEntries(inputs.map((input) => [input.name, columnFeed(batch, input)])),
  };
}

function numericColumn(byName: Map<string, ColumnInfo>, name: string): void {
  const column = byName.get(name);
  if (!column) throw failedPrecondition("COLUMN_MISSING", `column "${name}" is not in the data (columns: ${[...byName.keys()].join(", ")})`);
  if (!NUMERIC.test(column.type)) throw failedPrecondition("COLUMN_TYPE", `column "${name}" is ${column.type}; the model takes numbers`);
}

/** Columns side by side as a row-major [rows, columns] float matrix; nulls become NaN (refused with `finite`). */
function matrixFeed(batch: RecordBatch, columns: string[], type: "float32" | "float64", buffers?: FeedBuffers, finite = false): OnnxFeed {
  const rows = batch.numRows;
  const width = columns.length;
  const vectors = columns.map((name) => batch.getChild(name)!);
  const typed = vectors.map(numericValues);
  if (typed.every((c) => c !== undefined)) {
    const feed: ColumnsFeed = { type, dims: [rows, width], columns: typed, finite };
    if (typed.every((c) => sharedBufferOf(c))) return feed;
    return matrixFromColumns(feed, type === "float32" ? buffers?.float32(rows * width) : buffers?.float64(rows * width));
  }
  const length = rows * width;
  const data = type === "float32" ? (buffers?.float32(length) ?? new Float32Array(length)) : (buffers?.float64(length) ?? new Float64Array(length));
  vectors.forEach((vector, j) => {
    // 64-bit integers in their typed array: far faster than get(i) on a million rows.
    const values = typed[j] ?? (vector.nullCount === 0 && DataType.isInt(vector.type) ? (vector.toArray() as ArrayLike<number | bigint>) : undefined);
    if (values) {
      for (let i = 0; i < rows; i++) data[i * width + j] = Number(values[i]);
      return;
    }
    const unit = DataType.isDecimal(vector.type) ? 10 ** (vector.type as Decimal).scale : 1; // decimals come back unscaled
    for (let i = 0; i < rows; i++) {
      const v = vector.get(i);
      data[i * width + j] = v === null ? NaN : Number(v) / unit;
    }
  });
  if (finite) {
    const at = data.findIndex((v) => !Number.isFinite(v));
    if (at >= 0) throw new NonFiniteInputError(at % width, Math.floor(at / width), data[at]!);
  }
  return { type, dims: [rows, width], data } as OnnxTensorData;
}

/** A column's values as a typed array of numbers: floats of 32 or 64 bits and integers up to 32, without nulls. */
function numericValues(vector: Vector): NumericColumn | undefined {
  const type = vector.type as DataType;
  const plain = (DataType.isFloat(type) && type.precision !== Precision.HALF) || (DataType.isInt(type) && type.bitWidth <= 32);
  return plain && vector.nullCount === 0 ? (vector.toArray() as NumericColumn) : undefined;
}

function columnFeed(batch: RecordBatch, input: TensorSignature): OnnxTensorData {
  const vector = batch.getChild(input.name)!;
  const rows = batch.numRows;
  const dims = input.shape?.length === 1 ? [rows] : [rows, 1];
  const values = Array.from({ length: rows }, (_, i) => vector.get(i));
  switch (input.elementType) {
    case "string":
      return { type: "string", dims, data: values.map((v) => (v === null ? "" : String(v))) };
    case "int64":
      return { type: "int64", dims, data: BigInt64Array.from(values, (v) => BigInt(Math.trunc(Number(v ?? 0)))) };
    case "int32":
      return { type: "int32", dims, data: Int32Array.from(values, (v) => Number(v ?? 0)) };
    case "float64":
      return { type: "float64", dims, data: Float64Array.from(values, (v) => (v === null ? NaN : Number(v))) };
    case "bool":
      return { type: "bool", dims, data: Uint8Array.from(values, (v) => (v ? 1 : 0)) };
    default:
      return { type: "float32", dims, data: Float32Array.from(values, (v) => (v === null ? NaN : Number(v))) };
  }
}
