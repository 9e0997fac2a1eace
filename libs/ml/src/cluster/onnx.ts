import { attr, OnnxGraphBuilder } from "@kiln/onnx";
import type { Estimator, OnnxOutputs } from "../estimator.js";
import { NotFittedError } from "../errors.js";
import { ML_OPSET, OPSET } from "../onnx-export.js";

/**
 * Nearest centre and distances: squared distances as ReduceSumSquare(X - centres) over a
 * broadcast [N, k, d] difference (not ‖x‖² - 2x·c + ‖c‖², which loses float32 precision near a
 * centre), label = ArgMin (int64), distances = Sqrt. Returned as a classification whose
 * "probabilities" are the distances, so pipelines can carry a clusterer as their last step.
 */
export function exportClusters(graph: OnnxGraphBuilder, input: string, prefix: string, centers: Float64Array, k: number, d: number): OnnxOutputs {
  graph.initializer(`${prefix}_centers`, Float32Array.from(centers), [k, d]);
  graph.initializer(`${prefix}_axis1`, BigInt64Array.of(1n), [1]);
  graph.node("Unsqueeze", [input, `${prefix}_axis1`], [`${prefix}_x3`]);
  graph.node("Sub", [`${prefix}_x3`, `${prefix}_centers`], [`${prefix}_diff`]);
  graph.node("ReduceSumSquare", [`${prefix}_diff`], [`${prefix}_squared`], { axes: attr.ints([2]), keepdims: attr.int(0) });
  graph.node("ArgMin", [`${prefix}_squared`], [`${prefix}_label`], { axis: attr.int(1), keepdims: attr.int(0) });
  graph.node("Sqrt", [`${prefix}_squared`], [`${prefix}_distances`]);
  return { kind: "classification", label: `${prefix}_label`, probabilities: `${prefix}_distances`, classes: k, labelType: "int64" };
}

/** A clusterer's whole model, outputs named as sklearn-onnx names them: "label" int64 [N] and "scores" (distances) float32 [N, k]. */
export function clustersToOnnx(estimator: Estimator): Uint8Array {
  if (!estimator.fitted) throw new NotFittedError(estimator.kind);
  const g = new OnnxGraphBuilder({ opset: OPSET, producer: "kiln.ml", producerVersion: "1", domainOpsets: { "ai.onnx.ml": ML_OPSET } });
  g.input("X", "float32", ["N", estimator.nFeatures]);
  const out = estimator.exportOnnx(g, "X", estimator.kind.toLowerCase());
  if (out.kind !== "classification") throw new Error(`${estimator.kind} exported ${out.kind} outputs`);
  g.node("Identity", [out.label], ["label"]);
  g.node("Identity", [out.probabilities], ["scores"]);
  g.output("label", "int64", ["N"]);
  g.output("scores", "float32", ["N", out.classes]);
  return g.toBytes();
}
