import { TensorProto_DataType as DataType } from "onnx-buf";

const DATA_TYPES = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  float16: DataType.FLOAT16,
  bfloat16: DataType.BFLOAT16,
  int8: DataType.INT8,
  int16: DataType.INT16,
  int32: DataType.INT32,
  int64: DataType.INT64,
  uint8: DataType.UINT8,
  uint16: DataType.UINT16,
  uint32: DataType.UINT32,
  uint64: DataType.UINT64,
  bool: DataType.BOOL,
  string: DataType.STRING,
  complex64: DataType.COMPLEX64,
  complex128: DataType.COMPLEX128,
  float8e4m3fn: DataType.FLOAT8E4M3FN,
  float8e4m3fnuz: DataType.FLOAT8E4M3FNUZ,
  float8e5m2: DataType.FLOAT8E5M2,
  float8e5m2fnuz: DataType.FLOAT8E5M2FNUZ,
  float8e8m0: DataType.FLOAT8E8M0,
  float4e2m1: DataType.FLOAT4E2M1,
  uint4: DataType.UINT4,
  int4: DataType.INT4,
  uint2: DataType.UINT2,
  int2: DataType.INT2,
} as const satisfies Record<string, DataType>;

/** Lower-case element type names, as onnxruntime-node spells the common ones. */
export type ElementType = keyof typeof DATA_TYPES;

/** What a model may declare: a known type, "undefined" (0), or a code newer than this package. */
export type ElementTypeName = ElementType | "undefined" | `unknown(${number})`;

const NAMES = new Map<number, ElementType>(
  Object.entries(DATA_TYPES).map(([name, code]) => [code, name as ElementType]),
);

export function dataTypeOf(type: ElementType): DataType {
  return DATA_TYPES[type];
}

export function elementTypeName(code: number): ElementTypeName {
  if (code === DataType.UNDEFINED) return "undefined";
  return NAMES.get(code) ?? `unknown(${code})`;
}
