import { DataType, Field, Float64, makeData, RecordBatch, Schema, Struct, Table, type Vector } from "apache-arrow";
import { columnFromValues } from "./rows.js";

/** A named column, for building a table in a given column order (a record's keys would put "0" first). */
export interface NamedColumn {
  name: string;
  vector: Vector;
}

/** The table's rows as one batch, so row indices and columns are single pieces. */
export function oneBatch(table: Table): RecordBatch {
  if (table.batches.length === 1) return table.batches[0]!;
  return batchOf(table.schema.fields.map((f) => ({ name: f.name, vector: columnFromValues([...table.getChild(f.name)!], plainType(f.type)) })), table.numRows);
}

/** A one-batch table of these columns, in this order. */
export function tableOf(columns: readonly NamedColumn[], numRows: number): Table {
  return new Table(batchOf(columns, numRows));
}

function batchOf(columns: readonly NamedColumn[], numRows: number): RecordBatch {
  const fields = columns.map((c) => new Field(c.name, c.vector.type, true));
  const children = columns.map((c) => (c.vector.data.length === 1 ? c.vector.data[0]! : columnFromValues([...c.vector], c.vector.type).data[0]!));
  return new RecordBatch(new Schema(fields), makeData({ type: new Struct(fields), length: numRows, children, nullCount: 0 }));
}

/**
 * Tables answering parts of `numRows` rows (`rows`: ascending indices into them), put back
 * into one table in row order: every part's columns, the first part that has a column giving
 * its type, null where a part has no such column.
 */
export function interleaveRows(numRows: number, parts: readonly { rows: Uint32Array; table: Table }[]): Table {
  const types = new Map<string, DataType>();
  for (const { table } of parts) for (const f of table.schema.fields) if (!types.has(f.name)) types.set(f.name, plainType(f.type));
  const columns: NamedColumn[] = [];
  for (const [name, type] of types) {
    const values: unknown[] = new Array(numRows).fill(null);
    for (const { rows, table } of parts) {
      const column = table.getChild(name);
      if (!column) continue;
      for (let j = 0; j < rows.length; j++) values[rows[j]!] = column.get(j);
    }
    columns.push({ name, vector: columnFromValues(values, type) });
  }
  return tableOf(columns, numRows);
}

/** The tables' columns side by side, each named "<part>.<column>". */
export function sideBySide(numRows: number, parts: readonly { name: string; table: Table }[]): Table {
  const columns: NamedColumn[] = [];
  for (const { name, table } of parts) {
    const batch = oneBatch(table);
    batch.schema.fields.forEach((f, i) => columns.push({ name: `${name}.${f.name}`, vector: batch.getChildAt(i)! }));
  }
  return tableOf(columns, numRows);
}

/** The columns every table has (in the first's order), as `keep` chooses among them. */
export function sharedColumns(tables: readonly Table[], keep: (types: DataType[]) => boolean): string[] {
  return tables[0]!.schema.fields
    .map((f) => f.name)
    .filter((name) => tables.every((t) => t.getChild(name)) && keep(tables.map((t) => t.getChild(name)!.type)));
}

/** Per row, the mean of each column every table has as numbers (Float64). */
export function meanOfColumns(numRows: number, tables: readonly Table[], names: readonly string[]): Table {
  const columns = names.map((name) => {
    const sums = new Float64Array(numRows);
    for (const t of tables) {
      const column = t.getChild(name)!;
      for (let i = 0; i < numRows; i++) sums[i] += Number(column.get(i));
    }
    for (let i = 0; i < numRows; i++) sums[i] /= tables.length;
    return { name, vector: columnFromValues([...sums], new Float64()) };
  });
  return tableOf(columns, numRows);
}

/** Per row, the value most tables give in each column (ties go to the value the earliest table gave), typed as the first table's. */
export function voteOfColumns(numRows: number, tables: readonly Table[], names: readonly string[]): Table {
  const columns = names.map((name) => {
    const vectors = tables.map((t) => t.getChild(name)!);
    const values: unknown[] = new Array(numRows);
    for (let i = 0; i < numRows; i++) {
      // A map keeps its keys in the order first seen, so the first of the most counted is the earliest table's.
      const counts = new Map<string, { value: unknown; count: number }>();
      for (const v of vectors) {
        const value = v.get(i);
        const key = `${typeof value}:${String(value)}`;
        const entry = counts.get(key) ?? { value, count: 0 };
        entry.count++;
        counts.set(key, entry);
      }
      let best = { value: null as unknown, count: 0 };
      for (const entry of counts.values()) if (entry.count > best.count) best = entry;
      values[i] = best.value;
    }
    return { name, vector: columnFromValues(values, plainType(vectors[0]!.type)) };
  });
  return tableOf(columns, numRows);
}

/** `table`'s columns, then those of `other` (the same rows) it does not have, or only the ones named. */
export function withColumnsOf(table: Table, other: Table, only?: readonly string[]): Table {
  const a = oneBatch(table);
  const b = oneBatch(other);
  const have = new Set(a.schema.fields.map((f) => f.name));
  const columns: NamedColumn[] = a.schema.fields.map((f, i) => ({ name: f.name, vector: a.getChildAt(i)! }));
  b.schema.fields.forEach((f, i) => {
    if (!have.has(f.name) && (!only || only.includes(f.name))) columns.push({ name: f.name, vector: b.getChildAt(i)! });
  });
  return tableOf(columns, a.numRows);
}

export function isNumberType(type: DataType): boolean {
  return DataType.isFloat(type) || DataType.isInt(type) || DataType.isDecimal(type);
}

/** A dictionary column's value type: the values are rebuilt plainly. */
function plainType(type: DataType): DataType {
  return DataType.isDictionary(type) ? type.dictionary : type;
}
