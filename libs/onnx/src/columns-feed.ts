import { NonFiniteInputError } from "./errors.js";
import type { OnnxTensorData } from "./tensor-data.js";

/** A column of numbers in a typed array (64-bit integers excepted: they need converting one by one). */
export type NumericColumn = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/**
 * A float matrix input [rows, columns] given as its columns, each holding at least `rows`
 * values. The worker lays them out row-major: a caller whose columns sit in shared memory
 * (a dataset chunk read into a SharedArrayBuffer) neither copies nor converts on its own thread.
 */
export interface ColumnsFeed {
  type: "float32" | "float64";
  dims: [number, number];
  columns: NumericColumn[];
  /**
   * Refuse NaN and ±Infinity: laying the matrix out fails with NonFiniteInputError naming
   * the first one (by row). The check rides on the copy, so it costs almost nothing where
   * the columns are laid out (in the ONNX worker for shared memory).
   */
  finite?: boolean;
}

/** A model input: a tensor, or a float matrix given as columns. */
export type OnnxFeed = OnnxTensorData | ColumnsFeed;
export type OnnxFeeds = Record<string, OnnxFeed>;

export function isColumnsFeed(feed: OnnxFeed): feed is ColumnsFeed {
  return "columns" in feed;
}

/** The feed's matrix, laid out in `into` (of the feed's type, at least rows × columns long) or in a new array. */
export function matrixFromColumns(feed: ColumnsFeed, into?: Float32Array | Float64Array): OnnxTensorData {
  const [rows, width] = feed.dims;
  if (feed.columns.length !== width) throw new RangeError(`a [${rows}, ${width}] matrix needs ${width} columns, got ${feed.columns.length}`);
  const length = rows * width;
  const data = into ? into.subarray(0, length) : feed.type === "float32" ? new Float32Array(length) : new Float64Array(length);
  let bad: NonFiniteInputError | undefined;
  feed.columns.forEach((column, j) => {
    if (column.length < rows) throw new RangeError(`column ${j} has ${column.length} values, the matrix needs ${rows}`);
    let finite: boolean;
    if (column instanceof Float64Array && data instanceof Float32Array) finite = doublesIntoFloats(column, rows, data, j, width);
    else {
      let sum = 0; // v * 0 is 0 for a finite v and NaN otherwise, so the sum stays 0 while every value is finite
      for (let i = 0, at = j; i < rows; i++, at += width) sum += (data[at] = column[i]!) * 0;
      finite = sum === 0;
    }
    if (feed.finite && !finite) {
      const row = column.findIndex((v, i) => i < rows && !Number.isFinite(v));
      if (!bad || row < bad.row) bad = new NonFiniteInputError(j, row, column[row]!);
    }
  });
  if (bad) throw bad;
  return { type: feed.type, dims: [rows, width], data } as OnnxTensorData;
}

/** Doubles into floats, the common case, with one array type each side: 2–3× faster than the loop over any typed array. Whether all were finite. */
function doublesIntoFloats(from: Float64Array, rows: number, into: Float32Array, column: number, width: number): boolean {
  let sum = 0;
  for (let i = 0, at = column; i < rows; i++, at += width) {
    const v = from[i]!;
    into[at] = v;
    sum += v * 0;
  }
  return sum === 0;
}
