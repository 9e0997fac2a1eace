import { Binary, Bool, Float64, Int64, Utf8, type DataType, type RecordBatch } from "apache-arrow";
import { inferType } from "@kiln/data";
import { checkColumnNames, sqlBatch, type SqlColumn } from "./sql-columns.js";

/**
 * The path of a `sqlite:` source: `sqlite:shop.db`, `sqlite:/data/shop.db`, or
 * SQLAlchemy's `sqlite:///shop.db` (relative) and `sqlite:////data/shop.db` (absolute).
 */
export function sqlitePath(from: string): string {
  const rest = from.slice("sqlite:".length);
  const path = rest.startsWith("///") ? rest.slice(3) : rest;
  if (!path) throw new Error(`${from}: name the database file, e.g. sqlite:./shop.db`);
  return path;
}

/** A query's rows from a SQLite file opened read-only, a batch at a time. */
export async function* sqliteBatches(from: string, query: string, params: readonly unknown[], batchRows: number): AsyncGenerator<RecordBatch> {
  const { default: Database } = await import("better-sqlite3");
  const path = sqlitePath(from);
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new Error(`${from}: ${(e as Error).message}`);
  }
  try {
    const stmt = db.prepare(query);
    if (!stmt.reader) throw new Error(`${from}: the query returns no rows (only a query that reads, such as SELECT, can fill a dataset)`);
    stmt.raw(true).safeIntegers(true);
    const declared = stmt.columns();
    checkColumnNames(declared.map((c) => c.name), from);
    let columns: SqlColumn[] | undefined;
    let rows: unknown[][] = [];
    let done = 0;
    // The iterator runs synchronously; a batch at a time leaves the event loop free in between.
    for (const row of stmt.iterate(...params) as IterableIterator<unknown[]>) {
      rows.push(row);
      if (rows.length < batchRows) continue;
      columns ??= declared.map((c, j) => sqliteColumn(c.name, c.type, rows.map((r) => r[j])));
      yield sqlBatch(columns, rows, done, from);
      done += rows.length;
      rows = [];
    }
    if (rows.length || done === 0) {
      columns ??= declared.map((c, j) => sqliteColumn(c.name, c.type, rows.map((r) => r[j])));
      yield sqlBatch(columns, rows, done, from);
    }
  } finally {
    db.close();
  }
}

/**
 * A column typed by its declared type, by SQLite's own affinity rules (INT → Int64; CHAR,
 * CLOB, TEXT → Utf8; BLOB → Binary; REAL, FLOA, DOUB, and NUMERIC, DECIMAL → Float64),
 * plus BOOL → Bool; an expression, or a column declared without a type, by its first
 * rows' values (integers Int64, reals Float64, text Utf8).
 */
function sqliteColumn(name: string, declared: string | null, sample: unknown[]): SqlColumn {
  const t = (declared ?? "").toUpperCase();
  const as = (type: DataType) => ({ name, type, convert: (v: unknown) => v });
  if (!t) return as(inferType(sample));
  if (t.includes("BOOL")) return { name, type: new Bool(), convert: (v) => (v === 0n || v === 1n ? v === 1n : v) };
  if (t.includes("INT")) return as(new Int64());
  if (t.includes("CHAR") || t.includes("CLOB") || t.includes("TEXT")) return as(new Utf8());
  if (t.includes("BLOB")) return as(new Binary());
  return as(new Float64());
}
