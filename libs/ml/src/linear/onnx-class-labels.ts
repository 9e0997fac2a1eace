import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import { MLError } from "../errors.js";
import type { ClassLabel } from "../labels.js";

const INT64 = 7;

/** Class index per row (int64 [N]) from float64 decision scores [N, outputs]: one output means "positive when > 0", as in sklearn. */
export function classIndexOnnx(g: OnnxGraphBuilder, scores: string, outputs: number, prefix: string): string {
  if (outputs > 1) {
    g.node("ArgMax", [scores], [`${prefix}_index`], { axis: attr.int(1), keepdims: attr.int(0) });
    return `${prefix}_index`;
  }
  g.initializer(`${prefix}_zero`, Float64Array.of(0), []);
  g.initializer(`${prefix}_flat`, BigInt64Array.of(-1n), [1]);
  g.node("Greater", [scores, `${prefix}_zero`], [`${prefix}_positive`]);
  g.node("Cast", [`${prefix}_positive`], [`${prefix}_index_2d`], { to: attr.int(INT64) });
  g.node("Reshape", [`${prefix}_index_2d`, `${prefix}_flat`], [`${prefix}_index`]);
  return `${prefix}_index`;
}

/** Maps class indices to the labels themselves: int64 for integer classes, string for string classes. */
export function classLabelsOnnx(
  g: OnnxGraphBuilder,
  index: string,
  classes: readonly ClassLabel[],
  prefix: string,
): { label: string; labelType: "int64" | "string" } {
  if (classes.every((c) => typeof c === "string")) {
    g.initializer(`${prefix}_classes`, [...(classes as string[])], [classes.length]);
    g.node("Gather", [`${prefix}_classes`, index], [`${prefix}_label`], { axis: attr.int(0) });
    return { label: `${prefix}_label`, labelType: "string" };
  }
  const bad = classes.find((c) => typeof c !== "number" || !Number.isSafeInteger(c));
  if (bad !== undefined) throw new MLError(`ONNX export needs integer or string class labels, got ${String(bad)}`, "UNSUPPORTED_LABELS");
  if (classes.every((c, i) => c === i)) return { label: index, labelType: "int64" };
  g.initializer(`${prefix}_classes`, BigInt64Array.from(classes as number[], BigInt), [classes.length]);
  g.node("Gather", [`${prefix}_classes`, index], [`${prefix}_label`], { axis: attr.int(0) });
  return { label: `${prefix}_label`, labelType: "int64" };
}
