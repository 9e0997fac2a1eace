import { TensorProto_DataType as DataType, type TensorProto } from "onnx-buf";

/** A float, double or integer tensor's values as numbers (undefined for any other element type). */
export function tensorNumbers(t: TensorProto): number[] | undefined {
  const raw = t.rawData.length ? new DataView(t.rawData.buffer, t.rawData.byteOffset, t.rawData.byteLength) : undefined;
  const fromRaw = (size: number, read: (at: number) => number) => Array.from({ length: raw!.byteLength / size }, (_, i) => read(i * size));
  switch (t.dataType) {
    case DataType.FLOAT:
      return raw ? fromRaw(4, (at) => raw.getFloat32(at, true)) : [...t.floatData];
    case DataType.DOUBLE:
      return raw ? fromRaw(8, (at) => raw.getFloat64(at, true)) : [...t.doubleData];
    case DataType.INT64:
      return raw ? fromRaw(8, (at) => Number(raw.getBigInt64(at, true))) : t.int64Data.map(Number);
    case DataType.INT32:
      return raw ? fromRaw(4, (at) => raw.getInt32(at, true)) : [...t.int32Data];
    default:
      return undefined;
  }
}
