import { Table } from "apache-arrow";
import { InvalidInputError } from "./errors.js";

/** A dense row-major float64 matrix: row r, column c is data[r * cols + c]. */
export interface Matrix {
  data: Float64Array;
  rows: number;
  cols: number;
  /** Column names, when the input had them (Arrow tables). */
  columns?: string[];
}

/** What estimators accept as X. */
export type MatrixInput =
  | Matrix
  | { data: Float64Array | Float32Array | ArrayLike<number>; shape: readonly [number, number] }
  | readonly (readonly number[])[]
  | Table;

export interface ToMatrixOptions {
  /** Keep NaN as "missing" (SimpleImputer); otherwise NaN/Infinity is an error naming the column. */
  allowNaN?: boolean;
  /**
   * false: float64 input ({data, rows, cols} or {data, shape}) is used as is, not copied, as
   * sklearn's check_array does; only for callers that neither write to X nor keep it.
   * A fresh copy of a large X is costly (first touch of every page), often more than the fit.
   */
  copy?: boolean;
}

/** Converts and checks X: non-empty, rectangular, finite (unless allowNaN). Copies into float64 unless `copy` is false and X is float64 already. */
export function toMatrix(X: MatrixInput, options: ToMatrixOptions = {}): Matrix {
  const m = convert(X, options.copy ?? true);
  if (m.rows === 0 || m.cols === 0) throw new InvalidInputError(`X is empty (${m.rows} rows × ${m.cols} columns)`, "EMPTY_INPUT");
  if (allFinite(m.data)) return m;
  for (let i = 0; i < m.data.length; i++) {
    const v = m.data[i];
    if (Number.isFinite(v) || (options.allowNaN && Number.isNaN(v))) continue;
    const col = i % m.cols;
    const name = m.columns?.[col] ?? `column ${col}`;
    throw new InvalidInputError(`X has ${v} in ${name} (row ${Math.floor(i / m.cols)}); remove it or use SimpleImputer`, "NON_FINITE_INPUT");
  }
  return m;
}

/** Whether no value is NaN or ±Infinity: v·0 is 0 for every finite v, so four running sums of it stay 0 (twice as fast as a test per value). */
export function allFinite(data: Float64Array | Float32Array): boolean {
  const n = data.length;
  const end = n - (n % 4);
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  for (let i = 0; i < end; i += 4) {
    a += data[i] * 0;
    b += data[i + 1] * 0;
    c += data[i + 2] * 0;
    d += data[i + 3] * 0;
  }
  for (let i = end; i < n; i++) a += data[i] * 0;
  return a + b + c + d === 0;
}

function convert(X: MatrixInput, copy: boolean): Matrix {
  if (X instanceof Table) return fromTable(X);
  if (Array.isArray(X)) return fromRows(X as readonly (readonly number[])[]);
  if ("rows" in X && "cols" in X) return { data: toFloat64(X.data, copy), rows: X.rows, cols: X.cols, columns: X.columns };
  if ("shape" in X) {
    const [rows, cols] = X.shape;
    if (X.data.length !== rows * cols) throw new InvalidInputError(`X has ${X.data.length} values, its shape [${rows}, ${cols}] needs ${rows * cols}`, "BAD_SHAPE");
    return { data: toFloat64(X.data, copy), rows, cols };
  }
  throw new InvalidInputError("X must be a matrix {data, shape}, an array of rows, or an Arrow table of numeric columns", "BAD_INPUT_TYPE");
}

// Float64Array.from walks the iterator protocol; the typed-array constructor and slice are bulk copies.
function toFloat64(data: Float64Array | Float32Array | ArrayLike<number>, copy: boolean): Float64Array {
  if (data instanceof Float64Array) return copy ? data.slice() : data;
  if (ArrayBuffer.isView(data)) return new Float64Array(data as Float32Array);
  return Float64Array.from(data);
}

function fromRows(rows: readonly (readonly number[])[]): Matrix {
  const cols = rows[0]?.length ?? 0;
  const data = new Float64Array(rows.length * cols);
  rows.forEach((row, r) => {
    if (row.length !== cols) throw new InvalidInputError(`row ${r} of X has ${row.length} values, row 0 has ${cols}`, "RAGGED_ROWS");
    for (let c = 0; c < cols; c++) data[r * cols + c] = Number(row[c]);
  });
  return { data, rows: rows.length, cols };
}

function fromTable(t: Table): Matrix {
  const columns = t.schema.fields.map((f) => f.name);
  const data = new Float64Array(t.numRows * columns.length);
  columns.forEach((name, c) => {
    const field = t.schema.fields[c];
    if (!/^(Int|Uint|Float|Bool)/.test(String(field.type))) {
      throw new InvalidInputError(`column ${name} is ${String(field.type)}; estimators need numeric columns (encode it first, e.g. OneHotEncoder)`, "NON_NUMERIC_COLUMN");
    }
    const vector = t.getChildAt(c)!;
    for (let r = 0; r < t.numRows; r++) {
      const v = vector.get(r);
      data[r * columns.length + c] = v === null ? NaN : Number(v);
    }
  });
  return { data, rows: t.numRows, cols: columns.length, columns };
}

/** Checks X at predict time against the width the estimator was fitted on. */
export function checkWidth(m: Matrix, expected: number, kind: string): void {
  if (m.cols !== expected) throw new InvalidInputError(`${kind} was fitted on ${expected} columns, X has ${m.cols}`, "WRONG_WIDTH");
}

export function row(m: Matrix, r: number): Float64Array {
  return m.data.subarray(r * m.cols, (r + 1) * m.cols);
}
