import { create } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType as AttrType, AttributeProtoSchema, type AttributeProto } from "onnx-buf";
import { tensorProto, type TensorValues } from "./tensor-proto.js";

/**
 * A node attribute. ONNX tells float from int in the proto, and JS numbers cannot,
 * so every attribute is built through `attr` to say which one is meant.
 */
export type OnnxAttribute =
  | { type: "float"; value: number }
  | { type: "int"; value: bigint }
  | { type: "string"; value: string }
  | { type: "floats"; value: number[] }
  | { type: "ints"; value: bigint[] }
  | { type: "strings"; value: string[] }
  | { type: "tensor"; value: { values: TensorValues; dims: number[] } };

export const attr = {
  float: (value: number): OnnxAttribute => ({ type: "float", value }),
  int: (value: number | bigint): OnnxAttribute => ({ type: "int", value: toInt64(value) }),
  string: (value: string): OnnxAttribute => ({ type: "string", value }),
  floats: (value: readonly number[]): OnnxAttribute => ({ type: "floats", value: [...value] }),
  ints: (value: readonly (number | bigint)[]): OnnxAttribute => ({ type: "ints", value: value.map(toInt64) }),
  strings: (value: readonly string[]): OnnxAttribute => ({ type: "strings", value: [...value] }),
  tensor: (values: TensorValues, dims: number[]): OnnxAttribute => ({ type: "tensor", value: { values, dims } }),
};

export function attributeProto(name: string, a: OnnxAttribute): AttributeProto {
  const utf8 = new TextEncoder();
  switch (a.type) {
    case "float":
      return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: a.value });
    case "int":
      return create(AttributeProtoSchema, { name, type: AttrType.INT, i: a.value });
    case "string":
      return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: utf8.encode(a.value) });
    case "floats":
      return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: a.value });
    case "ints":
      return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: a.value });
    case "strings":
      return create(AttributeProtoSchema, { name, type: AttrType.STRINGS, strings: a.value.map((s) => utf8.encode(s)) });
    case "tensor":
      return create(AttributeProtoSchema, { name, type: AttrType.TENSOR, t: tensorProto("", a.value.values, a.value.dims) });
  }
}

function toInt64(value: number | bigint): bigint {
  if (typeof value === "number" && !Number.isInteger(value)) throw new RangeError(`int attribute ${value} is not an integer`);
  return BigInt(value);
}
