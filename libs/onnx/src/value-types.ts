import type { TensorShapeProto, TypeProto } from "onnx-buf";
import { elementTypeName, type ElementTypeName } from "./element-types.js";

/** A dimension: a fixed size, a symbolic name such as "N", or null when the model leaves it open. */
export type Dim = number | string | null;

/** A graph input or output, described for people and for the serving code that feeds it. */
export type OnnxValueInfo =
  | {
      name: string;
      kind: "tensor";
      elementType: ElementTypeName;
      /** null when the model does not declare the rank. */
      shape: Dim[] | null;
      /** Readable type, e.g. "tensor(float32)[N,3]". */
      type: string;
    }
  | { name: string; kind: "sequence" | "map" | "optional" | "sparse_tensor" | "unknown"; type: string };

export function describeValue(name: string, type: TypeProto | undefined): OnnxValueInfo {
  const value = type?.value;
  if (value?.case === "tensorType") {
    const elementType = elementTypeName(value.value.elemType);
    const shape = dimsOf(value.value.shape);
    return { name, kind: "tensor", elementType, shape, type: `tensor(${elementType})${formatShape(shape)}` };
  }
  const kinds = { sequenceType: "sequence", mapType: "map", optionalType: "optional", sparseTensorType: "sparse_tensor" } as const;
  return { name, kind: value?.case ? kinds[value.case] : "unknown", type: describeType(type) };
}

/** ONNX's own notation, e.g. "seq(map(int64,tensor(float32)))" for a ZipMap output. */
export function describeType(type: TypeProto | undefined): string {
  const value = type?.value;
  switch (value?.case) {
    case "tensorType":
      return `tensor(${elementTypeName(value.value.elemType)})`;
    case "sparseTensorType":
      return `sparse_tensor(${elementTypeName(value.value.elemType)})`;
    case "sequenceType":
      return `seq(${describeType(value.value.elemType)})`;
    case "optionalType":
      return `optional(${describeType(value.value.elemType)})`;
    case "mapType":
      return `map(${elementTypeName(value.value.keyType)},${describeType(value.value.valueType)})`;
    default:
      return "unknown";
  }
}

function dimsOf(shape: TensorShapeProto | undefined): Dim[] | null {
  if (!shape) return null;
  return shape.dim.map((d) => {
    if (d.value.case === "dimValue") return Number(d.value.value);
    if (d.value.case === "dimParam") return d.value.value;
    return null;
  });
}

function formatShape(shape: Dim[] | null): string {
  return shape ? `[${shape.map((d) => d ?? "?").join(",")}]` : "";
}
