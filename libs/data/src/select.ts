import { DataType, RecordBatch, Schema, Struct, makeData, vectorFromArray, type Data, type Vector } from "apache-arrow";

/** A new batch with only the given rows (ascending indices), every column type kept. */
export function selectRows(batch: RecordBatch, indices: Uint32Array): RecordBatch {
  if (indices.length === batch.numRows) return batch;
  const children = batch.schema.fields.map((f) => takeColumn(batch.getChild(f.name)!, indices));
  return new RecordBatch(batch.schema, makeData({ type: new Struct(batch.schema.fields), length: indices.length, children, nullCount: 0 }));
}

function takeColumn(vector: Vector, indices: Uint32Array): Data {
  const t = vector.type;
  if ((DataType.isInt(t) || DataType.isFloat(t)) && vector.nullCount === 0 && vector.data.length === 1) {
    const source = vector.toArray() as Float64Array;
    const Ctor = source.constructor as new (n: number) => Float64Array;
    const out = new Ctor(indices.length);
    for (let i = 0; i < indices.length; i++) out[i] = source[indices[i]];
    return makeData({ type: t, length: indices.length, data: out, nullCount: 0 } as never) as Data;
  }
  const values = new Array(indices.length);
  for (let i = 0; i < indices.length; i++) values[i] = vector.get(indices[i]);
  return vectorFromArray(values, t).data[0];
}

/**
 * The batch with only these columns, in this order. Built from the child data directly:
 * apache-arrow's RecordBatch.select returns nulls for columns past the first.
 */
export function projectColumns(batch: RecordBatch, columns: string[]): RecordBatch {
  const positions = columns.map((c) => batch.schema.fields.findIndex((f) => f.name === c));
  const missing = columns.filter((_, i) => positions[i] < 0);
  if (missing.length) throw new Error(`unknown column ${missing.map((m) => `"${m}"`).join(", ")}`);
  const schema = new Schema(positions.map((i) => batch.schema.fields[i]), batch.schema.metadata);
  const children = positions.map((i) => batch.data.children[i]);
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: batch.numRows, children, nullCount: 0 }));
}
