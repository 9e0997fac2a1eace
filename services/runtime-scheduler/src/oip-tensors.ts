import { create } from "@bufbuild/protobuf";
import { Bool, DataType, makeVector, Table, Type, Utf8, vectorFromArray, type Vector } from "apache-arrow";
import { invalidArgument } from "@kiln/core";
import {
  InferParameterSchema,
  InferTensorContentsSchema,
  ModelInferResponse_InferOutputTensorSchema,
  type InferTensorContents,
  type ModelInferRequest_InferInputTensor,
  type ModelInferResponse_InferOutputTensor,
} from "@kiln/proto/inference/grpc_predict_v2_pb";

// Open Inference Protocol tensors to and from the Arrow tables deployments predict on.

type Numbers = Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array | Uint16Array | Uint32Array | BigUint64Array;
type Elements = Numbers | boolean[] | string[];

interface NumericType {
  array: new (buffer: ArrayBufferLike, offset: number, length: number) => Numbers;
  bytes: number;
  /** The field of InferTensorContents that holds it. */
  field: keyof Omit<InferTensorContents, "$typeName" | "boolContents" | "bytesContents">;
}

const NUMERIC: Record<string, NumericType> = {
  FP32: { array: Float32Array, bytes: 4, field: "fp32Contents" },
  FP64: { array: Float64Array, bytes: 8, field: "fp64Contents" },
  INT8: { array: Int8Array, bytes: 1, field: "intContents" },
  INT16: { array: Int16Array, bytes: 2, field: "intContents" },
  INT32: { array: Int32Array, bytes: 4, field: "intContents" },
  INT64: { array: BigInt64Array, bytes: 8, field: "int64Contents" },
  UINT8: { array: Uint8Array, bytes: 1, field: "uintContents" },
  UINT16: { array: Uint16Array, bytes: 2, field: "uintContents" },
  UINT32: { array: Uint32Array, bytes: 4, field: "uintContents" },
  UINT64: { array: BigUint64Array, bytes: 8, field: "uint64Contents" },
};

/**
 * The request's tensors as table columns: one tensor [N, k] is a matrix of k features in
 * order (`positional`: the model's features whatever their names); tensors [N] or [N, 1]
 * are columns named as the tensors (for models with an input per column).
 */
export function tensorsToTable(inputs: ModelInferRequest_InferInputTensor[], raw: Uint8Array[]): { table: Table; positional: boolean } {
  if (inputs.length === 0) throw invalidArgument("INPUT_REQUIRED", "the request has no input tensors");
  if (raw.length > 0 && raw.length !== inputs.length) throw invalidArgument("RAW_CONTENTS_MISMATCH", `raw_input_contents has ${raw.length} entries for ${inputs.length} inputs`);
  const columns: Record<string, Vector> = {};
  let rows: number | undefined;
  const matrix = inputs.length === 1 && inputs[0]!.shape.length === 2;
  for (const [i, input] of inputs.entries()) {
    const shape = input.shape.map(Number);
    if (shape.length === 0 || shape.length > 2 || (!matrix && shape.length === 2 && shape[1] !== 1)) {
      throw invalidArgument("UNSUPPORTED_SHAPE", `input "${input.name}" has shape [${shape.join(", ")}]: give one [N, k] matrix, or a tensor [N] per column`);
    }
    if (rows !== undefined && shape[0] !== rows) throw invalidArgument("SHAPE_MISMATCH", `input "${input.name}" has ${shape[0]} rows, the inputs before it ${rows}`);
    rows = shape[0]!;
    const width = shape[1] ?? 1;
    const values = elementsOf(input, raw[i]);
    if (values.length !== rows * width) throw invalidArgument("SHAPE_MISMATCH", `input "${input.name}" has ${values.length} elements for shape [${shape.join(", ")}]`);
    if (!matrix) columns[input.name] = column(values);
    else for (let j = 0; j < width; j++) columns[`x${j}`] = column(width === 1 ? values : strided(values, j, width));
  }
  if (!rows) throw invalidArgument("NO_ROWS", "the input tensors have no rows");
  return { table: new Table(columns), positional: matrix };
}

/**
 * The model's output columns as tensors: one column is a tensor [N] named like it
 * ("prediction"); columns of one output ("probability_<class>", "component_<j>") are one
 * tensor [N, k] named by their stem, with the column names as its `columns` parameter.
 */
export function tableToTensors(table: Table, raw: boolean): { outputs: ModelInferResponse_InferOutputTensor[]; rawOutputContents: Uint8Array[] } {
  const names = table.schema.fields.map((f) => f.name);
  const stem = names.length > 1 ? commonStem(names) : undefined;
  const groups = stem ? [{ name: stem, columns: names }] : names.map((n) => ({ name: n, columns: [n] }));
  const outputs: ModelInferResponse_InferOutputTensor[] = [];
  const rawOutputContents: Uint8Array[] = [];
  for (const group of groups) {
    const vectors = group.columns.map((n) => table.getChild(n)!);
    const datatype = datatypeOf(vectors[0]!.type);
    const values = interleave(vectors, datatype);
    const shape = group.columns.length > 1 ? [BigInt(table.numRows), BigInt(group.columns.length)] : [BigInt(table.numRows)];
    const tensor = create(ModelInferResponse_InferOutputTensorSchema, { name: group.name, datatype, shape });
    if (group.columns.length > 1) tensor.parameters.columns = create(InferParameterSchema, { parameterChoice: { case: "stringParam", value: group.columns.join(",") } });
    if (raw) rawOutputContents.push(rawBytes(values));
    else tensor.contents = contentsOf(values, datatype);
    outputs.push(tensor);
  }
  return { outputs, rawOutputContents };
}

/** The field of InferTensorContents that holds a numeric datatype's elements (undefined for BOOL, BYTES and others). */
export function numericContentsField(datatype: string): NumericType["field"] | undefined {
  return NUMERIC[datatype]?.field;
}

/** Kiln's element types (an ONNX signature's) as the protocol names them. */
export function datatypeOfElement(elementType: string): string {
  const map: Record<string, string> = {
    float32: "FP32", float: "FP32", float64: "FP64", double: "FP64", float16: "FP16",
    int8: "INT8", int16: "INT16", int32: "INT32", int64: "INT64",
    uint8: "UINT8", uint16: "UINT16", uint32: "UINT32", uint64: "UINT64",
    bool: "BOOL", string: "BYTES",
  };
  return map[elementType] ?? elementType.toUpperCase();
}

function elementsOf(input: ModelInferRequest_InferInputTensor, raw: Uint8Array | undefined): Elements {
  const datatype = input.datatype.toUpperCase();
  const numeric = NUMERIC[datatype];
  if (raw) {
    if (numeric) {
      if (raw.length % numeric.bytes !== 0) throw invalidArgument("SHAPE_MISMATCH", `raw contents of input "${input.name}" are ${raw.length} bytes, not a whole number of ${datatype} elements`);
      const copy = raw.slice(); // aligned for the typed array
      return new numeric.array(copy.buffer, 0, raw.length / numeric.bytes);
    }
    if (datatype === "BOOL") return Array.from(raw, (b) => b !== 0);
    if (datatype === "BYTES") return rawStrings(raw, input.name);
  } else {
    const c = input.contents ?? create(InferTensorContentsSchema);
    if (numeric) {
      const list = c[numeric.field] as ArrayLike<number | bigint>;
      const out = new numeric.array(new ArrayBuffer(list.length * numeric.bytes), 0, list.length);
      for (let i = 0; i < list.length; i++) (out as unknown as (number | bigint)[])[i] = list[i]!;
      return out;
    }
    if (datatype === "BOOL") return c.boolContents;
    if (datatype === "BYTES") return c.bytesContents.map((b) => new TextDecoder().decode(b));
  }
  throw invalidArgument("UNSUPPORTED_DATATYPE", `input "${input.name}" is ${input.datatype || "of no datatype"}: Kiln takes BOOL, INT8...INT64, UINT8...UINT64, FP32, FP64 and BYTES`);
}

/** BYTES as raw contents: each element a 4-byte little-endian length, then its bytes. */
function rawStrings(raw: Uint8Array, name: string): string[] {
  const out: string[] = [];
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let at = 0; at < raw.length; ) {
    if (at + 4 > raw.length) throw invalidArgument("SHAPE_MISMATCH", `raw BYTES contents of input "${name}" end inside a length`);
    const n = view.getUint32(at, true);
    if (at + 4 + n > raw.length) throw invalidArgument("SHAPE_MISMATCH", `raw BYTES contents of input "${name}" end inside an element`);
    out.push(new TextDecoder().decode(raw.subarray(at + 4, at + 4 + n)));
    at += 4 + n;
  }
  return out;
}

function column(values: Elements): Vector {
  if (Array.isArray(values)) return typeof values[0] === "boolean" || values.length === 0 ? vectorFromArray(values as boolean[], new Bool()) : vectorFromArray(values as string[], new Utf8());
  return makeVector(values as Float32Array);
}

function strided(values: Elements, j: number, width: number): Elements {
  const rows = values.length / width;
  if (Array.isArray(values)) return Array.from({ length: rows }, (_, i) => values[i * width + j]!) as Elements;
  const Typed = values.constructor as new (n: number) => Numbers;
  const out = new Typed(rows);
  for (let i = 0; i < rows; i++) (out as unknown as (number | bigint)[])[i] = values[i * width + j]!;
  return out;
}

function commonStem(names: string[]): string | undefined {
  const stem = names[0]!.slice(0, names[0]!.lastIndexOf("_"));
  return stem && names.every((n) => n.startsWith(`${stem}_`)) ? stem : undefined;
}

function datatypeOf(type: DataType): string {
  switch (type.typeId) {
    case Type.Float: {
      const { precision } = type as unknown as { precision: number };
      return precision === 1 ? "FP32" : precision === 2 ? "FP64" : "FP16";
    }
    case Type.Int: {
      const { bitWidth, isSigned } = type as unknown as { bitWidth: number; isSigned: boolean };
      return `${isSigned ? "INT" : "UINT"}${bitWidth}`;
    }
    case Type.Bool:
      return "BOOL";
    default:
      return "BYTES";
  }
}

/** Row-major elements of several columns (one column: its values). */
function interleave(vectors: Vector[], datatype: string): Elements {
  const rows = vectors[0]!.length;
  const width = vectors.length;
  const numeric = NUMERIC[datatype];
  if (numeric) {
    const out = new numeric.array(new ArrayBuffer(rows * width * numeric.bytes), 0, rows * width);
    vectors.forEach((v, j) => {
      const values = v.toArray() as ArrayLike<number | bigint>;
      for (let i = 0; i < rows; i++) (out as unknown as (number | bigint)[])[i * width + j] = values[i]!;
    });
    return out;
  }
  const out: (boolean | string)[] = new Array(rows * width);
  vectors.forEach((v, j) => {
    for (let i = 0; i < rows; i++) out[i * width + j] = datatype === "BOOL" ? Boolean(v.get(i)) : String(v.get(i) ?? "");
  });
  return out as Elements;
}

function contentsOf(values: Elements, datatype: string): InferTensorContents {
  const numeric = NUMERIC[datatype];
  if (numeric) return create(InferTensorContentsSchema, { [numeric.field]: Array.from(values as ArrayLike<number | bigint>) });
  if (datatype === "BOOL") return create(InferTensorContentsSchema, { boolContents: values as boolean[] });
  return create(InferTensorContentsSchema, { bytesContents: (values as string[]).map((s) => new TextEncoder().encode(s)) });
}

function rawBytes(values: Elements): Uint8Array {
  if (!Array.isArray(values)) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  if (typeof values[0] === "boolean") return Uint8Array.from(values as boolean[], (b) => (b ? 1 : 0));
  const parts = (values as string[]).map((s) => new TextEncoder().encode(s));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const p of parts) {
    view.setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
}
