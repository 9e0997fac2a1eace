import { fromBinary } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType, ModelProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { attr, OnnxGraphBuilder } from "../src/index.js";

describe("OnnxGraphBuilder", () => {
  it("writes typed attributes, initializers and ir_version 8", () => {
    const bytes = new OnnxGraphBuilder({ opset: 17 })
      .input("X", "float32", ["N", 2])
      .initializer("w", Float64Array.of(1.5, 2.5), [2])
      .initializer("names", ["a", "é"], [2])
      .node("LeakyRelu", ["X"], ["Y"], { alpha: attr.float(0.5) })
      .node("Flatten", ["Y"], ["Z"], { axis: attr.int(1) })
      .output("Z", "float32", ["N", 2])
      .toBytes();
    const model = fromBinary(ModelProtoSchema, bytes);
    expect(model.irVersion).toBe(8n);
    const [leaky, flatten] = model.graph!.node;
    expect(leaky.attribute[0]).toMatchObject({ name: "alpha", type: AttributeProto_AttributeType.FLOAT, f: 0.5 });
    expect(flatten.attribute[0]).toMatchObject({ name: "axis", type: AttributeProto_AttributeType.INT, i: 1n });
    const [w, names] = model.graph!.initializer;
    expect(new Float64Array(w.rawData.slice().buffer)).toEqual(Float64Array.of(1.5, 2.5));
    expect(names.stringData.map((s) => new TextDecoder().decode(s))).toEqual(["a", "é"]);
  });

  it("refuses clashing names, dims that do not fit the data, fractional ints and unknown domains", () => {
    const g = new OnnxGraphBuilder({ opset: 17 }).input("X", "float32", [2]);
    expect(() => g.initializer("X", Float32Array.of(1, 2), [2])).toThrow(/already defined/);
    expect(() => g.initializer("w", Float32Array.of(1, 2, 3), [2])).toThrow(RangeError);
    expect(() => attr.int(1.5)).toThrow(RangeError);
    g.node("Custom", ["X"], ["Y"], {}, "com.example").output("Y", "float32", [2]);
    expect(() => g.toBytes()).toThrow(/no opset version for domain "com.example"/);
  });
});
