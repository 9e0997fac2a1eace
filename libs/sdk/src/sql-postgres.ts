import { Binary, Bool, DateDay, Float32, Float64, Int32, Int64, TimestampMillisecond, Utf8, type RecordBatch } from "apache-arrow";
import { parseTimestamp } from "@kiln/data";
import { checkColumnNames, sqlBatch, type SqlColumn } from "./sql-columns.js";

/** PostgreSQL type OIDs (pg_type) read into Arrow types of their own; any other type comes as its text. */
const OID = { bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, float4: 700, float8: 701, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700 };

/**
 * A query's rows from PostgreSQL (`postgres://user:password@host:port/db`, or anything
 * node-postgres takes, PG* variables included), fetched through a cursor a batch at a time,
 * so a result bigger than memory streams.
 */
export async function* postgresBatches(from: string, query: string, params: readonly unknown[], batchRows: number): AsyncGenerator<RecordBatch> {
  const [{ default: pg }, { default: Cursor }] = await Promise.all([import("pg"), import("pg-cursor")]);
  // Every value as the server's text: one conversion here for every type, exact for int8 and numeric.
  const client = new pg.Client({ connectionString: from, types: { getTypeParser: () => (text: string) => text } });
  const source = redacted(from);
  await client.connect().catch((e: unknown) => {
    throw new Error(`${source}: could not connect: ${(e as Error).message}`);
  });
  try {
    // Read only: a query given to fill a dataset cannot change the database, whatever it says.
    await client.query("BEGIN TRANSACTION READ ONLY");
    const cursor = client.query(new Cursor(query, [...params], { rowMode: "array" }));
    let columns: SqlColumn[] | undefined;
    for (let done = 0; ; ) {
      const { rows, fields } = await read(cursor, batchRows);
      if (!fields.length && done === 0 && rows.length === 0) throw new Error(`${source}: the query returns no rows (only a query that reads, such as SELECT, can fill a dataset)`);
      if (!columns) {
        checkColumnNames(fields.map((f) => f.name), source);
        columns = fields.map((f) => postgresColumn(f.name, f.dataTypeID));
      }
      if (rows.length || done === 0) yield sqlBatch(columns, rows, done, source);
      done += rows.length;
      if (rows.length < batchRows) break;
    }
    await new Promise<void>((resolve) => cursor.close(() => resolve()));
    await client.query("ROLLBACK");
  } finally {
    await client.end().catch(() => {});
  }
}

interface Read {
  rows: unknown[][];
  fields: { name: string; dataTypeID: number }[];
}

function read(cursor: { read: (n: number, cb: (err: Error | undefined, rows: unknown[][], result: { fields: Read["fields"] }) => void) => void }, n: number): Promise<Read> {
  return new Promise((resolve, reject) => cursor.read(n, (err, rows, result) => (err ? reject(err) : resolve({ rows, fields: result?.fields ?? [] }))));
}

/** The source as said in errors and logs: without its password. */
export function redacted(from: string): string {
  return from.replace(/\/\/([^:/@]+):[^@/]*@/, "//$1:***@");
}

function postgresColumn(name: string, oid: number): SqlColumn {
  const text = (v: unknown) => v;
  switch (oid) {
    case OID.bool:
      return { name, type: new Bool(), convert: (v) => (v === "t" ? true : v === "f" ? false : v) };
    case OID.int8:
      return { name, type: new Int64(), convert: (v) => BigInt(v as string) };
    case OID.int2:
    case OID.int4:
      return { name, type: new Int32(), convert: (v) => Number(v) };
    case OID.float4:
      return { name, type: new Float32(), convert: (v) => Number(v) };
    case OID.float8:
    case OID.numeric:
      return { name, type: new Float64(), convert: (v) => Number(v) };
    case OID.date:
      return { name, type: new DateDay(), convert: (v) => postgresTimestamp(v as string) };
    case OID.timestamp:
    case OID.timestamptz:
      return { name, type: new TimestampMillisecond(), convert: (v) => postgresTimestamp(v as string) };
    case OID.bytea:
      return { name, type: new Binary(), convert: (v) => Buffer.from((v as string).slice(2), "hex") };
    default:
      return { name, type: new Utf8(), convert: text };
  }
}

/** PostgreSQL's ISO text of a date or timestamp ("2026-12-05 08:00:00.123456+01"; without a zone, UTC) in ms. */
function postgresTimestamp(v: string): number | string {
  const iso = v.replace(" ", "T").replace(/([+-]\d{2})$/, "$1:00").replace(/([+-]\d{2}:\d{2}):\d{2}$/, "$1");
  const ms = parseTimestamp(iso);
  return Number.isFinite(ms) ? ms : v; // infinity, or a BC date: left as text for the column's check to name
}
