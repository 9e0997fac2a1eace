import { DataType, Float, Int, RecordBatch, Struct, Type, Vector, makeData, vectorFromArray, type Data } from "apache-arrow";
import { batchesToIpc, decodeChunk } from "./arrow-ipc.js";

/**
 * Several IPC stream chunks of one schema as one, in order. Their rows become a single
 * record batch when every column's type can be rebuilt from its values (see
 * rebuildable); otherwise the chunk holds their batches as they were, which keeps every
 * value exact but leaves a reader one batch per original chunk.
 */
export function mergeIpcChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const batches = chunks.flatMap((c) => decodeChunk(c).batches);
  return batchesToIpc(concatBatches(batches));
}

/** The batches (of one schema) as one batch, or as they are where a column cannot be rebuilt. */
function concatBatches(batches: readonly RecordBatch[]): RecordBatch[] {
  if (batches.length < 2) return [...batches];
  const schema = batches[0]!.schema;
  if (!schema.fields.every((f) => rebuildable(f.type))) return [...batches];
  const length = batches.reduce((n, b) => n + b.numRows, 0);
  const children: Data[] = [];
  for (const [i, field] of schema.fields.entries()) {
    const column = concatColumn(batches.map((b) => b.data.children[i]!), field.type);
    if (!column) return [...batches];
    children.push(column);
  }
  return [new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }))];
}

function concatColumn(parts: Data[], type: DataType): Data | undefined {
  const vector = new Vector(parts);
  // Numbers without nulls: their values laid end to end, no value read one by one.
  if (vector.nullCount === 0) {
    const { length } = vector;
    if (DataType.isInt(type)) return makeData({ type, length, nullCount: 0, data: vector.toArray() as Int["TArray"] });
    if (DataType.isFloat(type)) return makeData({ type, length, nullCount: 0, data: vector.toArray() as Float["TArray"] });
  }
  const rebuilt = vectorFromArray([...vector], type);
  return rebuilt.data.length === 1 ? rebuilt.data[0] : undefined;
}

/**
 * Types whose values Arrow's builders take back exactly as its vectors give them. Lists
 * are not: a list's value is a Vector, which the builders read as empty.
 */
function rebuildable(type: DataType): boolean {
  switch (type.typeId) {
    case Type.Null:
    case Type.Int:
    case Type.Float:
    case Type.Bool:
    case Type.Utf8:
    case Type.LargeUtf8:
    case Type.Binary:
    case Type.LargeBinary:
    case Type.Date:
    case Type.Timestamp:
      return true;
    case Type.Dictionary:
      return rebuildable((type as unknown as { dictionary: DataType }).dictionary);
    case Type.Struct:
      return type.children.every((f) => rebuildable(f.type));
    default:
      return false;
  }
}
