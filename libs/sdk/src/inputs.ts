import { Table, RecordBatch, tableFromArrays } from "apache-arrow";
import { columnsToTable, describeValue, dtypeOf, isColumnDict, isLabels, isNumberRows, isRowObjects, labelsTable, positionalTable, rowsToTable } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";

export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

/** A dense tensor: row-major data and its shape (the first dimension counts rows). */
export interface TensorData {
  data: TypedArray;
  shape: number[];
  /** Set for bool tensors stored in a Uint8Array. */
  dtype?: "float32" | "float64" | "int32" | "int64" | "uint8" | "bool";
}

export type DatasetInput =
  | Table
  | RecordBatch
  | Record<string, unknown>[]
  | Record<string, ArrayLike<unknown>>
  | TensorData
  | Uint8Array
  | unknown;

/** What a put sends, once its kind is known. */
export type ClassifiedInput =
  | { kind: DatasetKind.TABLE; table: Table }
  | { kind: DatasetKind.TENSOR; tensor: TensorData }
  | { kind: DatasetKind.DOCUMENT; document: unknown }
  | { kind: DatasetKind.FILE; bytes: Uint8Array };

export type KindName = "table" | "tensor" | "document" | "file";

/**
 * Decides what a value is: Arrow tables and batches, arrays of row objects and dicts of
 * equal-length columns are tables; {data, shape} is a tensor; bare bytes are a file;
 * anything else JSON can hold is a document. `kind` overrides the guess.
 */
export function classify(value: unknown, kind?: KindName): ClassifiedInput {
  if (kind === "document") return { kind: DatasetKind.DOCUMENT, document: value };
  if (kind === "file") {
    if (!(value instanceof Uint8Array)) throw new TypeError("a file dataset takes a Uint8Array");
    return { kind: DatasetKind.FILE, bytes: value };
  }
  if (value instanceof Table) return { kind: DatasetKind.TABLE, table: value };
  if (value instanceof RecordBatch) return { kind: DatasetKind.TABLE, table: new Table(value) };
  if (isTensor(value)) return { kind: DatasetKind.TENSOR, tensor: value };
  if (value instanceof Uint8Array && kind !== "table") return { kind: DatasetKind.FILE, bytes: value };
  if (isRowObjects(value)) return { kind: DatasetKind.TABLE, table: rowsToTable(value) };
  if (isColumnDict(value)) return { kind: DatasetKind.TABLE, table: columnsToTable(value) };
  if (kind === "table") throw new TypeError("a table takes an Arrow Table, an array of row objects, or a dict of equal-length columns");
  if (kind === "tensor") throw new TypeError("a tensor takes {data: TypedArray, shape: number[]}");
  return { kind: DatasetKind.DOCUMENT, document: value };
}

function isTensor(v: unknown): v is TensorData {
  if (typeof v !== "object" || v === null) return false;
  const t = v as Partial<TensorData>;
  return ArrayBuffer.isView(t.data) && Array.isArray(t.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0) && dtypeOf(t.data as TypedArray) !== undefined;
}

/** Local data as the table a job or a prediction reads; rows of numbers and tensors are positional (columns x0, x1, ...). */
export function asTable(data: DatasetInput): { table: Table; positional: boolean } {
  if (isNumberRows(data)) return { table: positionalTable(data), positional: true };
  const c = classify(data);
  if (c.kind === DatasetKind.TABLE) return { table: c.table, positional: false };
  if (c.kind === DatasetKind.TENSOR) return { table: tensorTable(c.tensor), positional: true };
  if (isLabels(data)) return { table: labelsTable(data), positional: true };
  throw new TypeError(`job data must be a dataset name, a table (rows, columns, Arrow), a tensor {data, shape}, rows of numbers or an array of labels; got ${describeValue(data)}`);
}

function tensorTable(t: TensorData): Table {
  const [rows = 0, width = 1] = t.shape;
  const columns: Record<string, Float64Array> = {};
  for (let j = 0; j < width; j++) {
    const col = new Float64Array(rows);
    for (let i = 0; i < rows; i++) col[i] = Number(t.data[i * width + j]);
    columns[t.shape.length === 1 ? "y" : `x${j}`] = col;
  }
  return tableFromArrays(columns);
}
