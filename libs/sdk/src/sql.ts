import type { RecordBatch } from "apache-arrow";
import { postgresBatches } from "./sql-postgres.js";
import { SQL_BATCH_ROWS } from "./sql-columns.js";
import { sqliteBatches } from "./sql-sqlite.js";

export { redacted as redactedSource } from "./sql-postgres.js";

export interface SqlOptions {
  /** Values for the query's placeholders: `?` for SQLite, `$1, $2…` for PostgreSQL. */
  params?: readonly unknown[];
  /** Rows per record batch (default 65,536). */
  batchRows?: number;
}

/**
 * A SQL query's rows as Arrow record batches, read as they come (Megatron's and omega-ml's
 * SQL sources, in Node): `sqlite:shop.db` (opened read-only; SQLAlchemy's `sqlite:///shop.db`
 * too) or `postgres://user:password@host/db`. Columns take the types the database gives
 * them (integers Int64 or Int32, reals Float64 or Float32, numeric Float64, text Utf8, bool,
 * dates DateDay, timestamps Timestamp(ms) in UTC, bytes Binary; anything else as its text),
 * so the batches go straight to `kiln.datasets.write(name, …)` or to a job as local data:
 *
 *     await kiln.datasets.write("sales", sqlBatches("sqlite:shop.db", "SELECT * FROM sales WHERE year >= ?", { params: [2024] }));
 *
 * A query that returns nothing still gives one batch, with its columns. A value that does
 * not fit its column's type (SQLite keeps any value in any column) fails the read, naming
 * its row and column.
 */
export function sqlBatches(from: string, query: string, options: SqlOptions = {}): AsyncIterable<RecordBatch> {
  const batchRows = options.batchRows ?? SQL_BATCH_ROWS;
  if (!Number.isInteger(batchRows) || batchRows < 1) throw new RangeError(`batchRows must be a whole number of at least 1, got ${batchRows}`);
  if (!query.trim()) throw new TypeError("the query is empty");
  const params = options.params ?? [];
  if (from.startsWith("sqlite:")) return sqliteBatches(from, query, params, batchRows);
  if (/^postgres(ql)?:\/\//.test(from)) return postgresBatches(from, query, params, batchRows);
  throw new TypeError(`${from.split(":")[0] ?? from}: a SQL source is sqlite:PATH or postgres://user@host/db`);
}
