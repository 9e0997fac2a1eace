import { create } from "@bufbuild/protobuf";
import { TensorProtoSchema, type TensorProto } from "onnx-buf";
import { dataTypeOf, type ElementType } from "./element-types.js";

/** Values for an initializer or a tensor attribute; the array type decides the ONNX element type. */
export type TensorValues =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigUint64Array
  | boolean[]
  | string[];

export function tensorProto(name: string, values: TensorValues, dims: number[]): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== values.length) {
    throw new RangeError(`tensor "${name}": dims [${dims.join(", ")}] hold ${count} elements, the data has ${values.length}`);
  }
  const base = { name, dims: dims.map(BigInt), dataType: dataTypeOf(elementTypeOf(values)) };
  if (isStrings(values)) {
    const encoder = new TextEncoder();
    return create(TensorProtoSchema, { ...base, stringData: values.map((s) => encoder.encode(s)) });
  }
  // raw_data is little-endian by the ONNX spec, which is every platform Node runs on.
  const raw = isBooleans(values)
    ? Uint8Array.from(values, (b) => (b ? 1 : 0))
    : new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return create(TensorProtoSchema, { ...base, rawData: raw });
}

export function elementTypeOf(values: TensorValues): ElementType {
  if (isStrings(values)) return "string";
  if (isBooleans(values)) return "bool";
  if (values instanceof Float32Array) return "float32";
  if (values instanceof Float64Array) return "float64";
  if (values instanceof Int8Array) return "int8";
  if (values instanceof Int16Array) return "int16";
  if (values instanceof Int32Array) return "int32";
  if (values instanceof BigInt64Array) return "int64";
  if (values instanceof Uint8Array) return "uint8";
  if (values instanceof Uint16Array) return "uint16";
  if (values instanceof Uint32Array) return "uint32";
  return "uint64";
}

function isStrings(values: TensorValues): values is string[] {
  return Array.isArray(values) && values.every((v) => typeof v === "string");
}

function isBooleans(values: TensorValues): values is boolean[] {
  return Array.isArray(values) && values.every((v) => typeof v === "boolean");
}
