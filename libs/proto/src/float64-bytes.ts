// Byte fields that carry doubles (e.g. EventColumns.dt_f64): little-endian IEEE 754, 8 bytes each.

const LITTLE_ENDIAN = new Uint8Array(new Float64Array([1]).buffer)[7] === 0x3f;

/** The first `length` values as little-endian bytes (a view, not a copy, on little-endian machines). */
export function float64Bytes(values: Float64Array, length = values.length): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, length * 8);
  const out = new Uint8Array(length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < length; i++) view.setFloat64(i * 8, values[i]!, true);
  return out;
}

/** The doubles in little-endian bytes (copied: the bytes need not be 8-aligned). */
export function float64sFrom(bytes: Uint8Array): Float64Array {
  const out = new Float64Array(bytes.length >> 3);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(0, out.length * 8));
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
  return out;
}
