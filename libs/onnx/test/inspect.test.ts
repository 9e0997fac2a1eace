import { create, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataType, ValueInfoProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { attr, binaryClassifierOnnx, inspectOnnx, linearRegressorOnnx, OnnxFormatError, OnnxGraphBuilder } from "../src/index.js";
import { randomBytes } from "./helpers.js";

describe("inspectOnnx", () => {
  it("describes the linear regressor, leaving its weights out of the inputs", () => {
    const summary = inspectOnnx(linearRegressorOnnx([0.5, -1, 2], 3));
    expect(summary).toMatchObject({ irVersion: 8, opsets: [{ domain: "ai.onnx", version: 17 }], producerName: "kiln", modelVersion: 0 });
    expect(summary.inputs).toEqual([{ name: "X", kind: "tensor", elementType: "float32", shape: ["N", 3], type: "tensor(float32)[N,3]" }]);
    expect(summary.outputs).toEqual([
      { name: "variable", kind: "tensor", elementType: "float32", shape: ["N", 1], type: "tensor(float32)[N,1]" },
    ]);
  });

  it("describes the classifier's string label and probability outputs", () => {
    const summary = inspectOnnx(binaryClassifierOnnx([1, 2], 0, ["cat", "dog"]));
    expect(summary.inputs.map((v) => [v.name, v.type])).toEqual([["X", "tensor(float32)[N,2]"]]);
    expect(summary.outputs).toEqual([
      { name: "label", kind: "tensor", elementType: "string", shape: ["N"], type: "tensor(string)[N]" },
      { name: "probabilities", kind: "tensor", elementType: "float32", shape: ["N", 2], type: "tensor(float32)[N,2]" },
    ]);
  });

  it("reads metadata, open dimensions, ai.onnx.ml opsets and ZipMap's seq(map) output", () => {
    const model = new OnnxGraphBuilder({ opset: 18, producer: "p", producerVersion: "1.2", metadata: { task: "classify" } })
      .input("X", "float64", [null, 2])
      .node("ZipMap", ["X"], ["Z"], { classlabels_strings: attr.strings(["a", "b"]) }, "ai.onnx.ml")
      .toModel();
    const mapOfFloat = { value: { case: "mapType" as const, value: { keyType: TensorProto_DataType.STRING, valueType: { value: { case: "tensorType" as const, value: { elemType: TensorProto_DataType.FLOAT } } } } } };
    model.graph!.output.push(create(ValueInfoProtoSchema, { name: "Z", type: { value: { case: "sequenceType", value: { elemType: mapOfFloat } } } }));
    const summary = inspectOnnx(toBinary(ModelProtoSchema, model));
    expect(summary).toMatchObject({ producerName: "p", producerVersion: "1.2", metadata: { task: "classify" } });
    expect(summary.opsets).toEqual([
      { domain: "ai.onnx", version: 18 },
      { domain: "ai.onnx.ml", version: 3 },
    ]);
    expect(summary.inputs[0]).toMatchObject({ elementType: "float64", shape: [null, 2], type: "tensor(float64)[?,2]" });
    expect(summary.outputs).toEqual([{ name: "Z", kind: "sequence", type: "seq(map(string,tensor(float32)))" }]);
  });

  describe("rejects what is not an ONNX model", () => {
    const valid = linearRegressorOnnx([1, 2], 0);
    const cases: [string, Uint8Array, RegExp][] = [
      ["an empty array", new Uint8Array(), /ir_version is missing/],
      ["a UTF-8 text file", new TextEncoder().encode("name,age\nada,36\ngrace,45\n"), /not an ONNX model/],
      ["a model cut short", valid.subarray(0, valid.length - 7), /protobuf decoding failed/],
      ["a model's first bytes", valid.subarray(0, 12), /not an ONNX model/],
      ...[1, 2, 3, 4, 5].map((seed): [string, Uint8Array, RegExp] => [`random bytes (seed ${seed})`, randomBytes(seed, 512), /not an ONNX model/]),
    ];
    it.each(cases)("%s", (_name, bytes, message) => {
      expect(() => inspectOnnx(bytes)).toThrow(OnnxFormatError);
      expect(() => inspectOnnx(bytes)).toThrow(message);
    });

    it("a graph without outputs", () => {
      const bytes = new OnnxGraphBuilder({ opset: 17 }).input("X", "float32", [1]).toBytes();
      expect(() => inspectOnnx(bytes)).toThrow(/the graph has no outputs/);
    });

    it("a model without opset_import", () => {
      const model = new OnnxGraphBuilder({ opset: 17 }).input("X", "float32", [1]).node("Relu", ["X"], ["Y"]).output("Y", "float32", [1]).toModel();
      model.opsetImport = [];
      expect(() => inspectOnnx(toBinary(ModelProtoSchema, model))).toThrow(/opset_import is empty/);
    });
  });
});
