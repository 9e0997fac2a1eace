import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { Table, type RecordBatch } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sqlBatches } from "../src/sql.js";
import { postgresBin, startPostgres, type PostgresServer } from "./postgres-server.js";

async function collect(batches: AsyncIterable<RecordBatch>): Promise<RecordBatch[]> {
  const out: RecordBatch[] = [];
  for await (const b of batches) out.push(b);
  return out;
}

const typesOf = (batch: RecordBatch) => Object.fromEntries(batch.schema.fields.map((f) => [f.name, String(f.type)]));
const rowsOf = (batches: RecordBatch[]) => new Table(batches).toArray().map((r) => ({ ...r.toJSON() }));

describe("sqlBatches from SQLite", () => {
  let dir: string;
  let file: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "kiln-sql-"));
    file = join(dir, "shop.db");
    const db = new Database(file);
    db.exec(`CREATE TABLE sales (id INTEGER PRIMARY KEY, region VARCHAR(8), price REAL, amount NUMERIC, paid BOOLEAN, receipt BLOB, note, big INTEGER)`);
    const insert = db.prepare("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    db.transaction(() => {
      for (let i = 1; i <= 2500; i++) insert.run(i, i % 2 ? "EU" : "US", i / 4, i * 10, i % 3 === 0 ? 1 : 0, Buffer.from([i % 256]), i % 5 === 0 ? null : BigInt(i), i === 7 ? 2n ** 62n + 1n : i);
    })();
    db.exec("CREATE TABLE mixed (x REAL)");
    db.prepare("INSERT INTO mixed VALUES (?)").run(1.5);
    db.prepare("INSERT INTO mixed VALUES (?)").run("not a number");
    db.close();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("streams a query's rows in batches, each column typed by its declared type (affinity) or, without one, by its values", async () => {
    const batches = await collect(sqlBatches(`sqlite:${file}`, "SELECT *, price * 2 AS doubled, count(*) OVER () AS n FROM sales WHERE region = ? ORDER BY id", { params: ["EU"], batchRows: 500 }));
    expect(batches.map((b) => b.numRows)).toEqual([500, 500, 250]);
    expect(typesOf(batches[0]!)).toEqual({
      id: "Int64",
      region: "Utf8",
      price: "Float64",
      amount: "Float64",
      paid: "Bool",
      receipt: "Binary",
      note: "Int64", // declared without a type: its values are integers
      big: "Int64",
      doubled: "Float64",
      n: "Int64",
    });
    const rows = rowsOf(batches);
    expect(rows).toHaveLength(1250);
    expect(rows[0]).toMatchObject({ id: 1n, region: "EU", price: 0.25, amount: 10, paid: false, note: 1n, big: 1n, doubled: 0.5, n: 1250n });
    expect([...(rows[0]!.receipt as Uint8Array)]).toEqual([1]);
    expect(rows[2]).toMatchObject({ id: 5n, note: null, paid: false });
    expect(rows[3]).toMatchObject({ id: 7n, big: 2n ** 62n + 1n }); // past 2^53, exact
    expect(rows[4]).toMatchObject({ id: 9n, paid: true });
  });

  it("takes SQLAlchemy's sqlite:/// form; a query that matches nothing still gives its columns", async () => {
    const relative = `sqlite:///${file.slice(1)}`; // sqlite:/// then a relative path: here the absolute one from /
    const cwd = process.cwd();
    process.chdir("/");
    try {
      const [empty, ...more] = await collect(sqlBatches(relative, "SELECT id, region FROM sales WHERE id < 0"));
      expect(more).toEqual([]);
      expect(empty!.numRows).toBe(0);
      expect(typesOf(empty!)).toEqual({ id: "Int64", region: "Utf8" });
    } finally {
      process.chdir(cwd);
    }
  });

  it("refuses what would not fill a dataset, and names the row and column of a value its column cannot take", async () => {
    await expect(collect(sqlBatches(`sqlite:${file}`, "DELETE FROM sales"))).rejects.toThrow(/returns no rows/);
    await expect(collect(sqlBatches(`sqlite:${join(dir, "none.db")}`, "SELECT 1"))).rejects.toThrow(/none\.db/);
    await expect(collect(sqlBatches(`sqlite:${file}`, "SELECT id, id FROM sales"))).rejects.toThrow(/two columns named "id"/);
    await expect(collect(sqlBatches(`sqlite:${file}`, "SELECT * FROM mixed"))).rejects.toThrow(/row 2, column "x": "not a number" is not Float64/);
    expect(() => sqlBatches("mysql://root@db/shop", "SELECT 1")).toThrow(/sqlite:PATH or postgres:\/\//);
    expect(() => sqlBatches(`sqlite:${file}`, " ")).toThrow(/empty/);
    // Opened read-only: nothing a query says changes the file.
    await expect(collect(sqlBatches(`sqlite:${file}`, "INSERT INTO sales (id) VALUES (99999) RETURNING id"))).rejects.toThrow(/readonly/);
  });
});

const bin = postgresBin();

describe.skipIf(!bin)("sqlBatches from PostgreSQL (a real server, started here)", () => {
  let server: PostgresServer;
  beforeAll(async () => {
    server = await startPostgres(bin!);
    const client = new pg.Client(server.url);
    await client.connect();
    await client.query(`CREATE TABLE readings (
      id int8 PRIMARY KEY, small int2, n int4, ratio float4, value float8, exact numeric, ok bool, label text, code varchar(4),
      day date, at timestamp, at_zone timestamptz, raw bytea, doc jsonb, tag uuid)`);
    await client.query(`INSERT INTO readings VALUES
      (9007199254740993, 1, 10, 0.5, 1.25, 12345.678, true, 'first', 'A1', '2026-12-05', '2026-12-05 08:00:00.123', '2026-12-05 08:00:00.5+01', '\\x0102ff', '{"a": 1}', '6f1c9a1e-6c0a-4a7c-9a43-3a8c1b4a1a11'),
      (2, NULL, NULL, NULL, 'NaN', NULL, false, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
      (3, 3, 30, 1.5, -2, 0.1, NULL, 'third', 'C3', '1999-01-31', '1999-01-31 23:59:59', '1999-01-31 23:59:59-05', '\\x', '[]', NULL)`);
    await client.end();
  }, 60_000);
  afterAll(async () => server?.stop());

  it("streams rows through a cursor, each type as its own Arrow type, values exact", async () => {
    const batches = await collect(sqlBatches(server.url, "SELECT * FROM readings WHERE id > $1 ORDER BY id DESC", { params: [1], batchRows: 2 }));
    expect(batches.map((b) => b.numRows)).toEqual([2, 1]);
    expect(typesOf(batches[0]!)).toEqual({
      id: "Int64",
      small: "Int32",
      n: "Int32",
      ratio: "Float32",
      value: "Float64",
      exact: "Float64",
      ok: "Bool",
      label: "Utf8",
      code: "Utf8",
      day: "Date32<DAY>",
      at: "Timestamp<MILLISECOND>",
      at_zone: "Timestamp<MILLISECOND>",
      raw: "Binary",
      doc: "Utf8",
      tag: "Utf8",
    });
    const [first, third, second] = rowsOf(batches);
    expect(first).toMatchObject({ id: 9007199254740993n, small: 1, n: 10, ratio: 0.5, value: 1.25, exact: 12345.678, ok: true, label: "first", code: "A1", doc: '{"a": 1}' });
    expect(first!.day).toBe(Date.UTC(2026, 11, 5));
    expect(first!.at).toBe(Date.UTC(2026, 11, 5, 8, 0, 0, 123)); // without a zone: UTC
    expect(first!.at_zone).toBe(Date.UTC(2026, 11, 5, 7, 0, 0, 500));
    expect([...(first!.raw as Uint8Array)]).toEqual([1, 2, 255]);
    expect(first!.tag).toBe("6f1c9a1e-6c0a-4a7c-9a43-3a8c1b4a1a11");
    expect(third).toMatchObject({ id: 3n, exact: 0.1, ok: null, doc: "[]", tag: null });
    expect(third!.at_zone).toBe(Date.UTC(1999, 1, 1, 4, 59, 59));
    expect([...(third!.raw as Uint8Array)]).toEqual([]);
    expect(second).toMatchObject({ id: 2n, small: null, label: null, day: null, ok: false });
    expect(second!.value).toBeNaN();
  });

  it("a query that matches nothing gives its columns; one that writes is refused by a read-only transaction; errors hide the password", async () => {
    const [empty, ...more] = await collect(sqlBatches(server.url, "SELECT id, label FROM readings WHERE false"));
    expect(more).toEqual([]);
    expect(empty!.numRows).toBe(0);
    expect(typesOf(empty!)).toEqual({ id: "Int64", label: "Utf8" });
    await expect(collect(sqlBatches(server.url, "DELETE FROM readings RETURNING id"))).rejects.toThrow(/read-only transaction/);
    await expect(collect(sqlBatches(server.url, "CREATE TABLE t (a int)"))).rejects.toThrow(/read-only transaction|returns no rows/);
    const client = new pg.Client(server.url);
    await client.connect();
    expect((await client.query("SELECT count(*)::int AS n FROM readings")).rows[0].n).toBe(3);
    expect((await client.query("SELECT to_regclass('t') AS t")).rows[0].t).toBeNull();
    await client.end();
    const wrong = server.url.replace("kiln@", "kiln:secret@").replace(/:(\d+)\//, (_, p: string) => `:${Number(p) + 1}/`);
    const err = await collect(sqlBatches(wrong, "SELECT 1")).catch((e: Error) => e);
    expect(String(err)).toMatch(/could not connect/);
    expect(String(err)).toContain("kiln:***@");
    expect(String(err)).not.toContain("secret");
  });
});
