import { attr, type OnnxGraphBuilder } from "@kiln/onnx";

export const ONNX_FLOAT = 1;
export const ONNX_DOUBLE = 11;

/**
 * X·Wᵀ + b as float64 [N, outputs], for W kept row-major as outputs × k (sklearn's coef_).
 * The product runs in float64: with large weights (SGD on raw features) the terms cancel,
 * and a float32 sum would drift past 1e-5 of what predict() returns.
 */
export function linearScoresOnnx(g: OnnxGraphBuilder, input: string, prefix: string, coef: Float64Array, intercept: Float64Array): string {
  const outputs = intercept.length;
  const k = coef.length / outputs;
  const weights = new Float64Array(k * outputs);
  for (let o = 0; o < outputs; o++) for (let j = 0; j < k; j++) weights[j * outputs + o] = coef[o * k + j];
  g.initializer(`${prefix}_coef`, weights, [k, outputs]);
  g.initializer(`${prefix}_intercept`, intercept.slice(), [outputs]);
  g.node("Cast", [input], [`${prefix}_x64`], { to: attr.int(ONNX_DOUBLE) });
  g.node("MatMul", [`${prefix}_x64`, `${prefix}_coef`], [`${prefix}_xw`]);
  g.node("Add", [`${prefix}_xw`, `${prefix}_intercept`], [`${prefix}_scores`]);
  return `${prefix}_scores`;
}

/** float64 → float32, the element type every model output has. */
export function toFloat32Onnx(g: OnnxGraphBuilder, input: string, output: string): string {
  g.node("Cast", [input], [output], { to: attr.int(ONNX_FLOAT) });
  return output;
}
