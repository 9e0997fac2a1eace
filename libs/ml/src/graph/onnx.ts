import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import type { Binary, SymOp, Unary } from "./symbol.js";
import { Sym } from "./symbol.js";

/** A node's ONNX value: float32 [N, width]. */
export interface OnnxValue {
  variable: string;
  width: number;
}

const UNARY_OP: Record<Exclude<Unary, "square" | "log1p">, string> = {
  neg: "Neg",
  abs: "Abs",
  exp: "Exp",
  log: "Log",
  sqrt: "Sqrt",
  sigmoid: "Sigmoid",
  tanh: "Tanh",
  floor: "Floor",
  ceil: "Ceil",
  reciprocal: "Reciprocal",
};

const BINARY_OP: Record<Binary, string> = { add: "Add", sub: "Sub", mul: "Mul", div: "Div", pow: "Pow", minimum: "Min", maximum: "Max" };

/**
 * Adds a stateless node's ONNX nodes, named `name`, reading the values of what it reads;
 * `width` is the node's own (worked out when the graph was fitted). Opset 17.
 */
export function exportStateless(g: OnnxGraphBuilder, node: Exclude<SymOp, { op: "input" | "layer" }>, value: (s: Sym) => OnnxValue, name: string, width: number): OnnxValue {
  const out = { variable: name, width };
  switch (node.op) {
    case "unary": {
      const x = value(node.x).variable;
      if (node.fn === "square") g.node("Mul", [x, x], [name]);
      else if (node.fn === "log1p") {
        g.initializer(`${name}_one`, Float32Array.of(1), []);
        g.node("Add", [x, `${name}_one`], [`${name}_shifted`]);
        g.node("Log", [`${name}_shifted`], [name]);
      } else g.node(UNARY_OP[node.fn], [x], [name]);
      return out;
    }
    case "binary": {
      let b: string;
      if (node.b instanceof Sym) b = value(node.b).variable;
      else {
        const values = typeof node.b === "number" ? [node.b] : node.b;
        b = `${name}_constant`;
        g.initializer(b, Float32Array.from(values), [values.length]);
      }
      g.node(BINARY_OP[node.fn], [value(node.a).variable, b], [name]);
      return out;
    }
    case "clip":
      g.initializer(`${name}_low`, Float32Array.of(node.min), []);
      g.initializer(`${name}_high`, Float32Array.of(node.max), []);
      g.node("Clip", [value(node.x).variable, `${name}_low`, `${name}_high`], [name]);
      return out;
    case "select":
      g.initializer(`${name}_columns`, BigInt64Array.from(node.columns.map(BigInt)), [node.columns.length]);
      g.node("Gather", [value(node.x).variable, `${name}_columns`], [name], { axis: attr.int(1) });
      return out;
    case "concat":
      g.node("Concat", node.parts.map((p) => value(p).variable), [name], { axis: attr.int(1) });
      return out;
    case "reduce":
      // Opset 17: ReduceSum takes its axes as an input, the others as an attribute.
      if (node.fn === "sum") {
        g.initializer(`${name}_axes`, BigInt64Array.of(1n), [1]);
        g.node("ReduceSum", [value(node.x).variable, `${name}_axes`], [name], { keepdims: attr.int(1) });
      } else {
        const op = { mean: "ReduceMean", max: "ReduceMax", min: "ReduceMin" }[node.fn];
        g.node(op, [value(node.x).variable], [name], { axes: attr.ints([1]), keepdims: attr.int(1) });
      }
      return out;
  }
}
