import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataType, TypeProtoSchema, ValueInfoProtoSchema } from "onnx-buf";

/** The probability tensor a ZipMap output is made from, and the class labels ZipMap gives its columns. */
export interface ZipMapSource {
  tensor: string;
  classes: (string | number)[];
}

/**
 * sklearn-onnx and onnxmltools export a classifier's probabilities, by default, as ZipMap's
 * sequence of maps (class → probability per row), which onnxruntime-node cannot return. The
 * ZipMap's input is the same probabilities as a plain [N, classes] float tensor; this finds
 * it for the graph output `output`, or undefined when that output is not a ZipMap's.
 */
export function zipMapSource(bytes: Uint8Array, output: string): ZipMapSource | undefined {
  const graph = fromBinary(ModelProtoSchema, bytes).graph;
  const node = graph?.node.find((n) => n.output[0] === output);
  if (!node || node.opType !== "ZipMap" || node.domain !== "ai.onnx.ml" || !node.input[0]) return undefined;
  const labels = (name: string) => node.attribute.find((a) => a.name === name);
  const strings = labels("classlabels_strings")?.strings.map((s) => new TextDecoder().decode(s)) ?? [];
  const ints = labels("classlabels_int64s")?.ints.map(Number) ?? [];
  return { tensor: node.input[0], classes: strings.length ? strings : ints };
}

/**
 * The model with these values of its graph (float tensors, as a ZipMap's input is) added to
 * its outputs, so onnxruntime can return them; nothing else changes.
 */
export function withFloatOutputs(bytes: Uint8Array, names: string[]): Uint8Array {
  const model = fromBinary(ModelProtoSchema, bytes);
  const graph = model.graph!;
  for (const name of names) {
    if (graph.output.some((o) => o.name === name)) continue;
    const type = create(TypeProtoSchema, { value: { case: "tensorType", value: { elemType: TensorProto_DataType.FLOAT } } });
    graph.output.push(create(ValueInfoProtoSchema, { name, type }));
  }
  return toBinary(ModelProtoSchema, model);
}
