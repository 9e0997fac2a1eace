import { Data, RecordBatch, Schema, Struct, Table, makeData, tableFromIPC, tableToIPC } from "apache-arrow";
import { DataFormatError } from "./errors.js";

export interface FieldDescription {
  name: string;
  /** Arrow's own name for the type: Int64, Float64, Utf8, Bool, Timestamp<MILLISECOND>, ... */
  type: string;
  nullable: boolean;
}

export function tableToIpc(table: Table): Uint8Array {
  return tableToIPC(table, "stream");
}

/** One self-contained IPC stream (schema + batches) from record batches of one schema. */
export function batchesToIpc(batches: RecordBatch[]): Uint8Array {
  return tableToIPC(new Table(batches.map(unshareBuffers)), "stream");
}

/**
 * Arrow JS's IPC writer miscounts the message body when two columns are the very same
 * view (`tableFromArrays({ a: x, b: x })`) and writes a stream nobody can read; such a
 * repeat gets its own copy. Views at different offsets of one buffer are fine.
 */
function unshareBuffers(batch: RecordBatch): RecordBatch {
  const seen = new Set<string>();
  const ids = new Map<ArrayBufferLike, number>();
  const viewKey = (v: ArrayBufferView) => {
    if (!ids.has(v.buffer)) ids.set(v.buffer, ids.size);
    return `${ids.get(v.buffer)}:${v.byteOffset}:${v.byteLength}`;
  };
  let changed = false;
  const children = batch.data.children.map((child) => {
    const buffers = [child.valueOffsets, child.values, child.nullBitmap, child.typeIds] as (ArrayBufferView | undefined)[];
    const views = buffers.filter((b): b is ArrayBufferView => b != null && b.byteLength > 0);
    const repeated = views.some((v) => seen.has(viewKey(v)));
    for (const v of views) seen.add(viewKey(v));
    if (!repeated) return child;
    changed = true;
    const copies = buffers.map((b) => (b ? (b as Uint8Array).slice() : b));
    return child.clone(child.type, child.offset, child.length, child.nullCount, copies as unknown as Data["buffers"]);
  });
  if (!changed) return batch;
  const data = makeData({ type: new Struct(batch.schema.fields), length: batch.numRows, nullCount: 0, children });
  return new RecordBatch(batch.schema, data);
}

export function schemaToIpc(schema: Schema): Uint8Array {
  return tableToIPC(new Table(schema), "stream");
}

export function schemaFromIpc(bytes: Uint8Array): Schema {
  return decodeChunk(bytes).schema;
}

const CONTINUATION = 0xffffffff;

/**
 * Decodes one IPC stream, refusing anything that is not one: Arrow's reader returns an
 * empty table for some garbage instead of failing, so the framing is checked first.
 */
export function decodeChunk(bytes: Uint8Array): Table {
  if (bytes.length < 8) throw new DataFormatError(`${bytes.length} bytes are too short for an Arrow IPC stream`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const first = view.getUint32(0, true);
  const metadataLength = first === CONTINUATION ? view.getInt32(4, true) : first;
  if (metadataLength <= 0 || metadataLength > bytes.length) {
    throw new DataFormatError("the bytes do not start with an Arrow IPC stream schema message");
  }
  let table: Table;
  try {
    table = tableFromIPC(bytes);
  } catch (e) {
    throw new DataFormatError((e as Error).message);
  }
  if (table.schema.fields.length === 0) throw new DataFormatError("the stream has no schema");
  return table;
}

export function describeFields(schema: Schema): FieldDescription[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}

/** Same column names, types, nullability and order. */
export function schemasEqual(a: Schema, b: Schema): boolean {
  if (a.fields.length !== b.fields.length) return false;
  return a.fields.every((f, i) => {
    const g = b.fields[i];
    return f.name === g.name && f.nullable === g.nullable && String(f.type) === String(g.type);
  });
}

/**
 * Groups batches into IPC stream chunks of about maxBytes each (a batch larger than
 * that is split by rows), so each chunk fits in one RPC message.
 */
export async function* batchesToIpcChunks(
  batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>,
  maxBytes: number,
): AsyncGenerator<Uint8Array> {
  let pending: RecordBatch[] = [];
  let pendingBytes = 0;
  for await (const batch of batches) {
    for (const piece of splitBatch(batch, maxBytes)) {
      const size = piece.data.byteLength;
      if (pending.length && pendingBytes + size > maxBytes) {
        yield batchesToIpc(pending);
        pending = [];
        pendingBytes = 0;
      }
      pending.push(piece);
      pendingBytes += size;
    }
  }
  if (pending.length) yield batchesToIpc(pending);
}

function splitBatch(batch: RecordBatch, maxBytes: number): RecordBatch[] {
  const size = batch.data.byteLength;
  if (size <= maxBytes || batch.numRows <= 1) return [batch];
  const parts = Math.ceil(size / maxBytes);
  const rows = Math.ceil(batch.numRows / parts);
  const out: RecordBatch[] = [];
  for (let start = 0; start < batch.numRows; start += rows) out.push(batch.slice(start, Math.min(batch.numRows, start + rows)));
  return out;
}
