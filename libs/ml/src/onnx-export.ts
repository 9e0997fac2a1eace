import { OnnxGraphBuilder } from "@kiln/onnx";
import type { Estimator, OnnxOutputs } from "./estimator.js";
import { NotFittedError } from "./errors.js";

/** Opset the estimators export to (onnxruntime-node 1.30 runs up to 21; 17 is what skl2onnx targets by default). */
export const OPSET = 17;
export const ML_OPSET = 3;

/**
 * A whole model from an estimator's nodes: input "X" float32 [N, nFeatures]; outputs
 * named like sklearn-onnx's: "variable" (regressors, transformers), "label" and
 * "probabilities" (classifiers, probabilities as a plain tensor rather than ZipMap,
 * which onnxruntime-node cannot return).
 */
export function modelToOnnx(estimator: Estimator): Uint8Array {
  if (!estimator.fitted) throw new NotFittedError(estimator.kind);
  const g = new OnnxGraphBuilder({ opset: OPSET, producer: "kiln.ml", producerVersion: "1", domainOpsets: { "ai.onnx.ml": ML_OPSET } });
  g.input("X", "float32", ["N", estimator.nFeatures]);
  const out = estimator.exportOnnx(g, "X", estimator.kind.toLowerCase());
  declareOutputs(g, out);
  return g.toBytes();
}

function declareOutputs(g: OnnxGraphBuilder, out: OnnxOutputs): void {
  switch (out.kind) {
    case "transform":
      g.node("Identity", [out.variable], ["variable"]);
      g.output("variable", "float32", ["N", out.width]);
      return;
    case "regression":
      g.node("Identity", [out.variable], ["variable"]);
      g.output("variable", "float32", ["N", 1]);
      return;
    case "classification":
      g.node("Identity", [out.label], ["label"]);
      g.node("Identity", [out.probabilities], ["probabilities"]);
      g.output("label", out.labelType ?? "int64", ["N"]);
      g.output("probabilities", "float32", ["N", out.classes]);
      return;
  }
}
