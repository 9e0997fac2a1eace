import { ModelFormatError } from "../errors.js";
import { loadModel, type SerializedModel } from "../serialize.js";
import { BINARY, REDUCE, Sym, UNARY, concat, input, type Binary, type Reduce, type Unary } from "./symbol.js";

/** A graph node as data: what it reads by index (always an earlier node), a layer's model inline. */
export type SerializedNode =
  | { op: "input"; columns?: string[] }
  | { op: "unary"; fn: Unary; x: number }
  | { op: "binary"; fn: Binary; a: number; b: number }
  | { op: "binary"; fn: Binary; a: number; constant: number | number[] }
  | { op: "clip"; x: number; min: number; max: number }
  | { op: "select"; x: number; columns: number[] }
  | { op: "concat"; parts: number[] }
  | { op: "reduce"; fn: Reduce; x: number }
  | { op: "layer"; x: number; name: string; model: SerializedModel };

export function encodeNodes(nodes: readonly Sym[], index: ReadonlyMap<Sym, number>, names: ReadonlyMap<Sym, string>): SerializedNode[] {
  const at = (s: Sym) => index.get(s)!;
  return nodes.map((s): SerializedNode => {
    const n = s.node;
    switch (n.op) {
      case "input":
        return n.columns ? { op: "input", columns: [...n.columns] } : { op: "input" };
      case "unary":
      case "reduce":
        return { op: n.op, fn: n.fn, x: at(n.x) } as SerializedNode;
      case "binary":
        return n.b instanceof Sym ? { op: "binary", fn: n.fn, a: at(n.a), b: at(n.b) } : { op: "binary", fn: n.fn, a: at(n.a), constant: typeof n.b === "number" ? n.b : [...n.b] };
      case "clip":
        return { op: "clip", x: at(n.x), min: n.min, max: n.max };
      case "select":
        return { op: "select", x: at(n.x), columns: [...n.columns] };
      case "concat":
        return { op: "concat", parts: n.parts.map(at) };
      case "layer":
        return { op: "layer", x: at(n.x), name: names.get(s)!, model: n.estimator.toJSON() };
    }
  });
}

/** Syms from their serialized nodes, in the same order; every reference checked. */
export function decodeNodes(nodes: readonly SerializedNode[]): Sym[] {
  const syms: Sym[] = [];
  const bad = (i: number, why: string): never => {
    throw new ModelFormatError(`Graph node ${i}: ${why}`, "BAD_MODEL_STATE");
  };
  nodes.forEach((n, i) => {
    const ref = (r: unknown) => (Number.isInteger(r) && (r as number) >= 0 && (r as number) < i ? syms[r as number]! : bad(i, `reads ${JSON.stringify(r)}, not an earlier node`));
    const oneOf = <T extends string>(fn: unknown, allowed: readonly T[]) => (allowed.includes(fn as T) ? (fn as T) : bad(i, `unknown ${n.op} "${String(fn)}"`));
    if (i === 0 && n?.op !== "input") bad(i, "the first node is the input");
    switch (n?.op) {
      case "input":
        if (i !== 0) bad(i, "a Graph has one input, its first node");
        syms.push(input(n.columns));
        return;
      // Through the Syms' own methods (named as the functions), which check their arguments as when traced.
      case "unary":
        syms.push(ref(n.x)[oneOf(n.fn, UNARY)]());
        return;
      case "reduce":
        syms.push(ref(n.x)[oneOf(n.fn, REDUCE)]());
        return;
      case "binary":
        syms.push(ref(n.a)[oneOf(n.fn, BINARY)]("constant" in n ? n.constant : ref(n.b)));
        return;
      case "clip":
        syms.push(ref(n.x).clip(n.min, n.max));
        return;
      case "select":
        syms.push(ref(n.x).select(n.columns));
        return;
      case "concat":
        syms.push(concat(...(Array.isArray(n.parts) ? n.parts : bad(i, "concat names no parts")).map(ref)));
        return;
      case "layer":
        syms.push(ref(n.x).pipe(loadModel(n.model), n.name));
        return;
      default:
        bad(i, `unknown op ${JSON.stringify((n as { op?: unknown } | null)?.op)}`);
    }
  });
  return syms;
}
