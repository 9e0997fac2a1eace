export type DTypeName = "float32" | "float64" | "int32" | "int64" | "uint8" | "bool";
export type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export function dtypeOf(a: ArrayBufferView): DTypeName | undefined {
  if (a instanceof Float32Array) return "float32";
  if (a instanceof Float64Array) return "float64";
  if (a instanceof Int32Array) return "int32";
  if (a instanceof BigInt64Array) return "int64";
  if (a instanceof Uint8Array) return "uint8";
  return undefined;
}

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
} as const;

export function bytesPerElement(dtype: DTypeName): number {
  return CTORS[dtype].BYTES_PER_ELEMENT;
}

export function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The tensor's little-endian bytes (a view, no copy; every supported platform is little-endian). */
export function tensorToBytes(data: TypedArray, shape: number[]): Uint8Array {
  if (elementCount(shape) !== data.length) {
    throw new RangeError(`shape [${shape.join(", ")}] holds ${elementCount(shape)} elements, the data has ${data.length}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function bytesToTensor(dtype: DTypeName, shape: number[], bytes: Uint8Array): { data: TypedArray; shape: number[] } {
  const Ctor = CTORS[dtype];
  if (bytes.length !== elementCount(shape) * Ctor.BYTES_PER_ELEMENT) {
    throw new RangeError(`${bytes.length} bytes do not hold a ${dtype} tensor of shape [${shape.join(", ")}]`);
  }
  const aligned = bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0 ? bytes : bytes.slice();
  return { data: new Ctor(aligned.buffer as ArrayBuffer, aligned.byteOffset, bytes.length / Ctor.BYTES_PER_ELEMENT), shape };
}
