import { Field, RecordBatch, Schema, type DataType } from "apache-arrow";
import { columnsToBatch } from "@kiln/data";

/** Rows a batch holds unless the caller says otherwise. */
export const SQL_BATCH_ROWS = 65_536;

/** A query's column: its name, the Arrow type it becomes, and how one of the driver's values becomes a value of that type. */
export interface SqlColumn {
  name: string;
  type: DataType;
  convert: (value: unknown) => unknown;
}

/**
 * Rows (arrays in the columns' order) as a record batch; a value that does not fit its
 * column's type (SQLite keeps any value in any column) is a DataFormatError naming its row
 * (counted from 1 after `rowsBefore`) and column.
 */
export function sqlBatch(columns: readonly SqlColumn[], rows: readonly unknown[][], rowsBefore: number, source: string): RecordBatch {
  const schema = new Schema(columns.map((c) => new Field(c.name, c.type, true)));
  const values: Record<string, unknown[]> = {};
  columns.forEach((c, j) => {
    values[c.name] = rows.map((row) => {
      const v = row[j];
      return v === null || v === undefined ? null : c.convert(v);
    });
  });
  try {
    return columnsToBatch(values, schema, `the query's columns`);
  } catch (e) {
    // Rows are counted in this batch; say which row of the whole result it was.
    if (e instanceof Error) e.message = `${source}: ${e.message.replace(/^row (\d+)/, (_, n: string) => `row ${rowsBefore + Number(n)}`)}`;
    throw e;
  }
}

/** Column names must be unique to become a table's columns. */
export function checkColumnNames(names: readonly string[], source: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new Error(`${source}: the query returns two columns named "${name}"; name them apart (AS)`);
    seen.add(name);
  }
}
