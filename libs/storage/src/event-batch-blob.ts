import type { EventBatch } from "./event-store.js";

/** A stored batch's columns, as typed arrays over its blob. */
export interface StoredBatch {
  length: number;
  strings: string[];
  /** One per event of value type 2 or 3, in order. */
  text: string[];
  dt: Float64Array;
  step: Float64Array;
  number: Float64Array;
  event: Int32Array;
  key: Int32Array;
  node: Int32Array;
  valueType: Uint8Array;
}

/**
 * A columnar batch as one blob: a JSON header (the string table and the text values), then
 * the numeric columns as little-endian arrays, 8-byte aligned. 37 bytes an event plus its
 * strings, against a row and an index entry per event.
 */
export function encodeBatch(b: EventBatch): Buffer {
  const n = b.event.length;
  const header = Buffer.from(JSON.stringify({ n, strings: b.strings, text: b.text }));
  const start = align8(4 + header.length);
  const out = Buffer.alloc(start + n * (8 * 3 + 4 * 3 + 1));
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let at = start;
  for (const column of [b.dt, b.step, b.number]) {
    new Float64Array(out.buffer, out.byteOffset + at, n).set(column);
    at += 8 * n;
  }
  for (const column of [b.event, b.key, b.node]) {
    new Int32Array(out.buffer, out.byteOffset + at, n).set(column);
    at += 4 * n;
  }
  out.set(b.valueType, at);
  return out;
}

export function decodeBatch(blob: Uint8Array): StoredBatch {
  // Typed arrays need aligned offsets: copy a blob that does not start on 8 bytes.
  const bytes = blob.byteOffset % 8 === 0 ? blob : Uint8Array.prototype.slice.call(blob);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  const { n, strings, text } = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 4, headerLength).toString()) as { n: number; strings: string[]; text: string[] };
  let at = bytes.byteOffset + align8(4 + headerLength);
  const f64 = () => ((at += 8 * n), new Float64Array(bytes.buffer, at - 8 * n, n));
  const i32 = () => ((at += 4 * n), new Int32Array(bytes.buffer, at - 4 * n, n));
  const dt = f64();
  const step = f64();
  const number = f64();
  const event = i32();
  const key = i32();
  const node = i32();
  return { length: n, strings, text, dt, step, number, event, key, node, valueType: new Uint8Array(bytes.buffer, at, n) };
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
