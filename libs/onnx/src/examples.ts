import { create, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataType, ValueInfoProtoSchema } from "onnx-buf";
import { attr } from "./attributes.js";
import { OnnxGraphBuilder } from "./build.js";

const OPSET = 17;

/** y = X·coef + intercept: input "X" float32 [N, k], output "variable" float32 [N, 1] (skl2onnx's names). */
export function linearRegressorOnnx(coef: number[], intercept: number): Uint8Array {
  const k = coef.length;
  return new OnnxGraphBuilder({ opset: OPSET, producer: "kiln", graphName: "linear_regressor" })
    .input("X", "float32", ["N", k])
    .initializer("coef", Float32Array.from(coef), [k, 1])
    .initializer("intercept", Float32Array.of(intercept), [1])
    .node("MatMul", ["X", "coef"], ["xw"])
    .node("Add", ["xw", "intercept"], ["variable"])
    .output("variable", "float32", ["N", 1])
    .toBytes();
}

/**
 * Logistic regression with two classes: p1 = sigmoid(X·coef + intercept), probabilities [1 - p1, p1],
 * label = labels[argmax] (ties go to labels[0], as scikit-learn's predict does).
 * Built from core ops with a string Gather rather than ai.onnx.ml's LinearClassifier+ZipMap, so
 * the outputs are plain tensors that onnxruntime-node can return.
 */
export function binaryClassifierOnnx(coef: number[], intercept: number, labels: [string, string]): Uint8Array {
  const k = coef.length;
  return new OnnxGraphBuilder({ opset: OPSET, producer: "kiln", graphName: "binary_classifier" })
    .input("X", "float32", ["N", k])
    .initializer("coef", Float32Array.from(coef), [k, 1])
    .initializer("intercept", Float32Array.of(intercept), [1])
    .initializer("one", Float32Array.of(1), [1])
    .initializer("classes", [...labels], [2])
    .node("MatMul", ["X", "coef"], ["xw"])
    .node("Add", ["xw", "intercept"], ["logit"])
    .node("Sigmoid", ["logit"], ["p1"])
    .node("Sub", ["one", "p1"], ["p0"])
    .node("Concat", ["p0", "p1"], ["probabilities"], { axis: attr.int(1) })
    .node("ArgMax", ["probabilities"], ["class_index"], { axis: attr.int(1), keepdims: attr.int(0) })
    .node("Gather", ["classes", "class_index"], ["label"], { axis: attr.int(0) })
    .output("label", "string", ["N"])
    .output("probabilities", "float32", ["N", 2])
    .toBytes();
}

/**
 * The classifier of binaryClassifierOnnx as sklearn-onnx exports a binary LogisticRegression
 * by default: ai.onnx.ml's LinearClassifier, its probabilities normalized, then given as
 * ZipMap's sequence of maps (class → probability, one map a row), which onnxruntime-node
 * cannot return. Outputs "output_label" and "output_probability", sklearn-onnx's names.
 */
export function zipMapClassifierOnnx(coef: number[], intercept: number, labels: [string, string]): Uint8Array {
  const model = new OnnxGraphBuilder({ opset: OPSET, producer: "kiln", graphName: "zipmap_classifier" })
    .input("X", "float32", ["N", coef.length])
    .node(
      "LinearClassifier",
      ["X"],
      ["output_label", "probability_tensor"],
      {
        classlabels_strings: attr.strings(labels),
        coefficients: attr.floats([...coef.map((c) => -c), ...coef]),
        intercepts: attr.floats([-intercept, intercept]),
        post_transform: attr.string("LOGISTIC"),
      },
      "ai.onnx.ml",
    )
    .node("Normalizer", ["probability_tensor"], ["probabilities"], { norm: attr.string("L1") }, "ai.onnx.ml")
    .node("ZipMap", ["probabilities"], ["output_probability"], { classlabels_strings: attr.strings(labels) }, "ai.onnx.ml")
    .output("output_label", "string", ["N"])
    .toModel();
  const probability = { value: { case: "tensorType" as const, value: { elemType: TensorProto_DataType.FLOAT } } };
  const row = { value: { case: "mapType" as const, value: { keyType: TensorProto_DataType.STRING, valueType: probability } } };
  model.graph!.output.push(create(ValueInfoProtoSchema, { name: "output_probability", type: { value: { case: "sequenceType", value: { elemType: row } } } }));
  return toBinary(ModelProtoSchema, model);
}
