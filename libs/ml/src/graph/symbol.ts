import { InvalidInputError } from "../errors.js";
import type { Estimator } from "../estimator.js";

export const UNARY = ["neg", "abs", "exp", "log", "log1p", "sqrt", "square", "sigmoid", "tanh", "floor", "ceil", "reciprocal"] as const;
export const BINARY = ["add", "sub", "mul", "div", "pow", "minimum", "maximum"] as const;
export const REDUCE = ["sum", "mean", "max", "min"] as const;
export type Unary = (typeof UNARY)[number];
export type Binary = (typeof BINARY)[number];
export type Reduce = (typeof REDUCE)[number];

/** A number for every column, or one for all of them. */
export type Constant = number | readonly number[];

/** What a node of a pipeline graph computes from the nodes it reads. */
export type SymOp =
  /** X; with the names of its columns when given, so columns can be selected by name. */
  | { op: "input"; columns?: readonly string[] }
  | { op: "unary"; fn: Unary; x: Sym }
  | { op: "binary"; fn: Binary; a: Sym; b: Sym | Constant }
  | { op: "clip"; x: Sym; min: number; max: number }
  | { op: "select"; x: Sym; columns: readonly number[] }
  | { op: "concat"; parts: readonly Sym[] }
  | { op: "reduce"; fn: Reduce; x: Sym }
  /** A stateful layer: an estimator fitted on what it reads, then transforming (or, last, predicting) it. */
  | { op: "layer"; x: Sym; estimator: Estimator; name?: string };

/**
 * A symbolic matrix of a pipeline graph (N rows × some columns, known once the graph is
 * fitted). Operations on it record nodes instead of computing: a function of Syms is traced
 * into a graph once, so the graph runs anywhere (ONNX, another process) without its code.
 */
export class Sym<Output = unknown> {
  /** Types only: the estimator a layer's Sym ends in, so a Graph's predict() returns what it predicts. */
  declare readonly output?: Output;

  constructor(readonly node: SymOp) {}

  /** The Syms this one reads. */
  get inputs(): Sym[] {
    const n = this.node;
    switch (n.op) {
      case "input":
        return [];
      case "binary":
        return n.b instanceof Sym ? [n.a, n.b] : [n.a];
      case "concat":
        return [...n.parts];
      default:
        return [n.x];
    }
  }

  neg(): Sym {
    return this.unary("neg");
  }
  abs(): Sym {
    return this.unary("abs");
  }
  exp(): Sym {
    return this.unary("exp");
  }
  log(): Sym {
    return this.unary("log");
  }
  /** log(1 + x). */
  log1p(): Sym {
    return this.unary("log1p");
  }
  sqrt(): Sym {
    return this.unary("sqrt");
  }
  square(): Sym {
    return this.unary("square");
  }
  sigmoid(): Sym {
    return this.unary("sigmoid");
  }
  tanh(): Sym {
    return this.unary("tanh");
  }
  floor(): Sym {
    return this.unary("floor");
  }
  ceil(): Sym {
    return this.unary("ceil");
  }
  /** 1 / x. */
  reciprocal(): Sym {
    return this.unary("reciprocal");
  }

  add(b: Sym | Constant): Sym {
    return this.binary("add", b);
  }
  sub(b: Sym | Constant): Sym {
    return this.binary("sub", b);
  }
  mul(b: Sym | Constant): Sym {
    return this.binary("mul", b);
  }
  div(b: Sym | Constant): Sym {
    return this.binary("div", b);
  }
  pow(b: Sym | Constant): Sym {
    return this.binary("pow", b);
  }
  /** Elementwise minimum with b. */
  minimum(b: Sym | Constant): Sym {
    return this.binary("minimum", b);
  }
  maximum(b: Sym | Constant): Sym {
    return this.binary("maximum", b);
  }

  clip(min: number, max: number): Sym {
    if (!(min <= max)) throw new InvalidInputError(`clip: min ${min} is above max ${max}`, "BAD_GRAPH");
    return new Sym({ op: "clip", x: this, min, max });
  }

  /** The columns at these indices (or, of an input given names, with these names), in this order. */
  select(columns: readonly (number | string)[]): Sym {
    const indices = columns.map((c) => (typeof c === "string" ? this.columnNamed(c) : c));
    if (indices.length === 0 || indices.some((c) => !Number.isInteger(c) || c < 0)) throw new InvalidInputError(`select: columns are indices from 0, got ${JSON.stringify(columns)}`, "BAD_GRAPH");
    return new Sym({ op: "select", x: this, columns: indices });
  }

  /** Columns start … end − 1 (Python's x[:, start:end]). */
  cols(start: number, end: number): Sym {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start) throw new InvalidInputError(`cols: ${start}…${end} is no range of columns`, "BAD_GRAPH");
    return this.select(Array.from({ length: end - start }, (_, i) => start + i));
  }

  col(column: number | string): Sym {
    return this.select([column]);
  }

  /** Across the columns of each row: one column. */
  sum(): Sym {
    return this.reduce("sum");
  }
  mean(): Sym {
    return this.reduce("mean");
  }
  max(): Sym {
    return this.reduce("max");
  }
  min(): Sym {
    return this.reduce("min");
  }

  /**
   * An estimator as a layer reading this: fitted on it with the graph, then transforming it
   * (a scaler, PCA, an encoder, a Pipeline of them) or, as the graph's output, predicting.
   * Named like a Pipeline's steps (its kind, lowercased) unless given a name.
   */
  pipe<E extends Estimator>(estimator: E, name?: string): Sym<E> {
    return new Sym<E>({ op: "layer", x: this, estimator, name });
  }

  private columnNamed(name: string): number {
    const names = this.node.op === "input" ? this.node.columns : undefined;
    if (!names) throw new InvalidInputError(`select: "${name}" is a name, and only an input given column names, input(["a", …]), selects by name`, "BAD_GRAPH");
    const at = names.indexOf(name);
    if (at < 0) throw new InvalidInputError(`select: X has no column "${name}" (it has ${names.join(", ")})`, "BAD_GRAPH");
    return at;
  }

  private unary(fn: Unary): Sym {
    return new Sym({ op: "unary", fn, x: this });
  }

  private binary(fn: Binary, b: Sym | Constant): Sym {
    if (!(b instanceof Sym)) {
      const values: readonly unknown[] = typeof b === "number" ? [b] : Array.isArray(b) ? b : [];
      if (values.length === 0 || values.some((v) => typeof v !== "number" || !Number.isFinite(v))) throw new InvalidInputError(`${fn}: a constant is a finite number or a list of them, got ${JSON.stringify(b)}`, "BAD_GRAPH");
    }
    return new Sym({ op: "binary", fn, a: this, b: b instanceof Sym ? b : typeof b === "number" ? b : [...b] });
  }

  private reduce(fn: Reduce): Sym {
    return new Sym({ op: "reduce", fn, x: this });
  }
}

/**
 * The graph's input: the feature matrix X. Given its column names, columns select by name,
 * and X, when it has names (an Arrow table), must have these, in this order.
 */
export function input(columns?: readonly string[]): Sym {
  if (columns !== undefined && (columns.length === 0 || new Set(columns).size !== columns.length || columns.some((c) => typeof c !== "string" || c === ""))) {
    throw new InvalidInputError(`input: column names are distinct non-empty strings, got ${JSON.stringify(columns)}`, "BAD_GRAPH");
  }
  return new Sym(columns === undefined ? { op: "input" } : { op: "input", columns: [...columns] });
}

/** The columns of each, side by side (sklearn's FeatureUnion, numpy's hstack). */
export function concat(...parts: Sym[]): Sym {
  if (parts.length < 2) throw new InvalidInputError("concat takes two Syms or more", "BAD_GRAPH");
  return new Sym({ op: "concat", parts });
}
