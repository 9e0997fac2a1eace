import { attr, type OnnxGraphBuilder } from "@kiln/onnx";

/**
 * How a linear classifier turns decision scores into probabilities:
 * "softmax" (multinomial logistic regression), "logistic" (one-vs-rest sigmoids normalised
 * to sum to 1, as sklearn's SGDClassifier), "none" (hinge: scores only). With a single
 * output (two classes) both probabilistic links are the binary sigmoid [1 − p, p].
 */
export type ProbabilityLink = "softmax" | "logistic" | "none";

export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/** n × classes probabilities from n × outputs scores (outputs is 1 for two classes). */
export function probabilitiesFromScores(scores: Float64Array, n: number, outputs: number, link: Exclude<ProbabilityLink, "none">): Float64Array {
  if (outputs === 1) {
    const out = new Float64Array(n * 2);
    for (let r = 0; r < n; r++) {
      const p = sigmoid(scores[r]);
      out[2 * r] = 1 - p;
      out[2 * r + 1] = p;
    }
    return out;
  }
  const out = new Float64Array(n * outputs);
  for (let r = 0; r < n; r++) {
    const o = r * outputs;
    let max = -Infinity;
    for (let c = 0; c < outputs; c++) max = Math.max(max, scores[o + c]);
    let sum = 0;
    for (let c = 0; c < outputs; c++) {
      const v = link === "softmax" ? Math.exp(scores[o + c] - max) : sigmoid(scores[o + c]);
      out[o + c] = v;
      sum += v;
    }
    for (let c = 0; c < outputs; c++) out[o + c] = sum > 0 ? out[o + c] / sum : 1 / outputs;
  }
  return out;
}

/** The same in ONNX from float64 scores: float64 [N, classes]; for "none", the scores themselves ([−d, d] for two classes, as skl2onnx). */
export function probabilitiesOnnx(g: OnnxGraphBuilder, scores: string, outputs: number, link: ProbabilityLink, prefix: string): string {
  const out = `${prefix}_probabilities`;
  if (outputs === 1) {
    if (link === "none") {
      g.node("Neg", [scores], [`${prefix}_negative`]);
      g.node("Concat", [`${prefix}_negative`, scores], [out], { axis: attr.int(1) });
      return out;
    }
    g.initializer(`${prefix}_one`, Float64Array.of(1), []);
    g.node("Sigmoid", [scores], [`${prefix}_p1`]);
    g.node("Sub", [`${prefix}_one`, `${prefix}_p1`], [`${prefix}_p0`]);
    g.node("Concat", [`${prefix}_p0`, `${prefix}_p1`], [out], { axis: attr.int(1) });
    return out;
  }
  if (link === "none") {
    g.node("Identity", [scores], [out]);
  } else if (link === "softmax") {
    g.node("Softmax", [scores], [out], { axis: attr.int(1) });
  } else {
    g.initializer(`${prefix}_class_axis`, BigInt64Array.of(1n), [1]);
    g.node("Sigmoid", [scores], [`${prefix}_sigmoid`]);
    g.node("ReduceSum", [`${prefix}_sigmoid`, `${prefix}_class_axis`], [`${prefix}_sigmoid_sum`], { keepdims: attr.int(1) });
    g.node("Div", [`${prefix}_sigmoid`, `${prefix}_sigmoid_sum`], [out]);
  }
  return out;
}
