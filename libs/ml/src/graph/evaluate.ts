import { InvalidInputError } from "../errors.js";
import type { Matrix } from "../matrix.js";
import { Sym, type Binary, type Reduce, type SymOp, type Unary } from "./symbol.js";

const UNARY_FN: Record<Unary, (v: number) => number> = {
  neg: (v) => -v,
  abs: Math.abs,
  exp: Math.exp,
  log: Math.log,
  log1p: Math.log1p,
  sqrt: Math.sqrt,
  square: (v) => v * v,
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: Math.tanh,
  floor: Math.floor,
  ceil: Math.ceil,
  reciprocal: (v) => 1 / v,
};

const BINARY_FN: Record<Binary, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  minimum: Math.min,
  maximum: Math.max,
};

/** The width of a binary operation's result, or an error: equal widths, or one of them 1 (broadcast). */
export function binaryWidth(fn: Binary, a: number, b: number): number {
  if (a === b || b === 1) return a;
  if (a === 1) return b;
  throw new InvalidInputError(`${fn}: ${a} columns with ${b} (widths must match, or one be 1)`, "BAD_GRAPH");
}

/** A stateless node's matrix from the matrices of what it reads (float64, as the estimators compute). */
export function evaluate(node: Exclude<SymOp, { op: "input" | "layer" }>, read: (s: Sym) => Matrix): Matrix {
  switch (node.op) {
    case "unary": {
      const x = read(node.x);
      const f = UNARY_FN[node.fn];
      return { data: x.data.map(f), rows: x.rows, cols: x.cols };
    }
    case "clip": {
      const x = read(node.x);
      return { data: x.data.map((v) => Math.min(node.max, Math.max(node.min, v))), rows: x.rows, cols: x.cols };
    }
    case "binary":
      return binary(node.fn, read(node.a), node.b instanceof Sym ? read(node.b) : node.b);
    case "select": {
      const x = read(node.x);
      const bad = node.columns.find((c) => c >= x.cols);
      if (bad !== undefined) throw new InvalidInputError(`select: column ${bad} of ${x.cols} (columns count from 0)`, "BAD_GRAPH");
      const k = node.columns.length;
      const data = new Float64Array(x.rows * k);
      for (let r = 0; r < x.rows; r++) for (let j = 0; j < k; j++) data[r * k + j] = x.data[r * x.cols + node.columns[j]!]!;
      return { data, rows: x.rows, cols: k };
    }
    case "concat": {
      const parts = node.parts.map(read);
      const cols = parts.reduce((sum, p) => sum + p.cols, 0);
      const rows = parts[0]!.rows;
      const data = new Float64Array(rows * cols);
      let offset = 0;
      for (const p of parts) {
        for (let r = 0; r < rows; r++) data.set(p.data.subarray(r * p.cols, (r + 1) * p.cols), r * cols + offset);
        offset += p.cols;
      }
      return { data, rows, cols };
    }
    case "reduce":
      return reduce(node.fn, read(node.x));
  }
}

function binary(fn: Binary, a: Matrix, b: Matrix | number | readonly number[]): Matrix {
  const f = BINARY_FN[fn];
  if (typeof b === "number") return { data: a.data.map((v) => f(v, b)), rows: a.rows, cols: a.cols };
  if (!("data" in b)) {
    if (b.length !== 1 && b.length !== a.cols) throw new InvalidInputError(`${fn}: ${b.length} constants for ${a.cols} columns (one, or one per column)`, "BAD_GRAPH");
    return { data: a.data.map((v, i) => f(v, b.length === 1 ? b[0]! : b[i % a.cols]!)), rows: a.rows, cols: a.cols };
  }
  const cols = binaryWidth(fn, a.cols, b.cols);
  const data = new Float64Array(a.rows * cols);
  for (let r = 0; r < a.rows; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = f(a.data[r * a.cols + (a.cols === 1 ? 0 : c)]!, b.data[r * b.cols + (b.cols === 1 ? 0 : c)]!);
  }
  return { data, rows: a.rows, cols };
}

function reduce(fn: Reduce, x: Matrix): Matrix {
  const data = new Float64Array(x.rows);
  for (let r = 0; r < x.rows; r++) {
    const row = x.data.subarray(r * x.cols, (r + 1) * x.cols);
    let v = fn === "max" ? -Infinity : fn === "min" ? Infinity : 0;
    for (const e of row) v = fn === "max" ? Math.max(v, e) : fn === "min" ? Math.min(v, e) : v + e;
    data[r] = fn === "mean" ? v / x.cols : v;
  }
  return { data, rows: x.rows, cols: 1 };
}
