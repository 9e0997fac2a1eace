import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Bool, Field, Float16, Float32, Float64, Int16, Int64, List, Table, tableFromIPC, tableToIPC, TimestampMillisecond, Utf8, vectorFromArray } from "apache-arrow";
import Database from "better-sqlite3";
import { startNodeService } from "@kiln/core/testing";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { embeddedServer } from "./embedded-server.js";
import { cli, KILN_BIN } from "./helpers.js";

const run = promisify(execFile);

describe("the kiln CLI against a real server", () => {
  const server = embeddedServer("cli");
  const { kiln, kilnFails } = cli(
    () => server.url,
    () => server.dir,
  );

  beforeAll(async () => {
    await writeFile(
      join(server.dir, "people.csv"),
      'name,age,country,vip\nana,34,DE,false\nbo,25,FR,true\ncy,51,US,false\n"de, jr",40,FR,false\n',
    );
  });

  it("says its version, the package's (from the bundle bin/kiln.js runs)", async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, "../../../libs/cli/package.json"), "utf8")) as { version: string };
    expect(await kiln("--version")).toBe(`${version}\n`);
  });

  it("kiln serve runs Kiln embedded (the server's code, outside the CLI's bundle, loaded for it alone)", async () => {
    const served = await startNodeService(KILN_BIN, { KILN_PORT: "0", KILN_DATA_DIR: join(server.dir, "served") }, ["serve"]);
    try {
      const { kiln: againstServed } = cli(() => served.url, () => server.dir);
      expect(await againstServed("jobs")).toMatch(/^ID\s+KIND\s+MODEL\s+STATE/);
    } finally {
      await served.stop();
    }
  });

  it("puts a CSV, appends it, and reads it back filtered as CSV", async () => {
    expect(await kiln("datasets:put", "people", join(server.dir, "people.csv"))).toMatch(/version 1, 4 rows/);
    expect(await kiln("datasets:put", "people", join(server.dir, "people.csv"))).toMatch(/version 2, 8 rows/);
    const csv = await kiln("datasets:get", "people", "--filter", 'age > 30 AND country IN ("DE","FR") OR vip = true', "--columns", "name,age", "--version", "1");
    expect(csv.trim().split("\n")).toEqual(["name,age", "ana,34", "bo,25", '"de, jr",40']);
  });

  it("writes Arrow and JSON files with -o", async () => {
    await kiln("datasets:get", "people", "--limit", "2", "-o", join(server.dir, "out.arrow"));
    const table = tableFromIPC(await readFile(join(server.dir, "out.arrow")));
    expect(table.numRows).toBe(2);
    expect(table.schema.fields.map((f) => f.name)).toEqual(["name", "age", "country", "vip"]);
    await kiln("datasets:get", "people", "--columns", "name", "--limit", "1", "-o", join(server.dir, "out.json"));
    expect(JSON.parse(await readFile(join(server.dir, "out.json"), "utf8"))).toEqual([{ name: "ana" }]);
  });

  it("lists, shows, logs and drops, in human and --json form", async () => {
    expect(await kiln("datasets")).toMatch(/^NAME\s+KIND\s+VERSION[\s\S]*people\s+table\s+2\s+8/m);
    const list = JSON.parse(await kiln("--json", "datasets")) as { id: string }[];
    expect(list.map((d) => d.id)).toContain("people");
    const show = await kiln("datasets:show", "people");
    expect(show).toMatch(/rows:\s+8/);
    expect(show).toMatch(/age\s+Int64/);
    const log = JSON.parse(await kiln("--json", "datasets:log", "people")) as { version: number; rowCount: number }[];
    expect(log.map((v) => [v.version, v.rowCount])).toEqual([
      [2, 8],
      [1, 4],
    ]);
    expect(await kiln("datasets:drop", "people")).toMatch(/dropped people/);
    const missing = await kilnFails("datasets:show", "people");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/not found.*DATASET_NOT_FOUND/);
  });

  it("stores other files as bytes and JSON documents pretty-printed", async () => {
    await writeFile(join(server.dir, "notes.txt"), "hello kiln\n");
    await kiln("datasets:put", "notes", join(server.dir, "notes.txt"));
    expect(await kiln("datasets:get", "notes")).toBe("hello kiln\n");
    expect(JSON.parse(await kiln("--json", "datasets:show", "notes")).latest.mediaType).toBe("text/plain");
    await writeFile(join(server.dir, "cfg.json"), JSON.stringify({ lr: 0.1, layers: [64, 32] }));
    await kiln("datasets:put", "cfg", join(server.dir, "cfg.json"), "--kind", "document");
    expect(JSON.parse(await kiln("datasets:get", "cfg"))).toEqual({ lr: 0.1, layers: [64, 32] });
  });

  it("refuses a file with no columns, and hints at ./FILE when a dataset not found is a file here", async () => {
    await writeFile(join(server.dir, "empty.csv"), "");
    await writeFile(join(server.dir, "none.json"), "[]");
    for (const file of ["empty.csv", "none.json"]) {
      const refused = await kilnFails("datasets:put", "nothing", file);
      expect(refused.stderr).toBe(`kiln: ${file} holds no table: a table needs at least its columns (a CSV header line, a JSON row)\n`);
    }
    expect((await kilnFails("datasets:show", "nothing")).stderr).toMatch(/DATASET_NOT_FOUND/); // nothing stored
    await writeFile(join(server.dir, "header.csv"), "a,b\n");
    expect(await kiln("datasets:put", "header-only", "header.csv")).toMatch(/version 1, 0 rows/);
    expect(await kiln("datasets:get", "header-only")).toBe("a,b\n");

    // Option values are checked before anything is asked: --limit 0 and --version 0 meant "all" and "latest" to the server.
    for (const [option, value, says] of [
      ["--limit", "0", "a whole number of at least 1"],
      ["--version", "0", "a whole number of at least 1"],
      ["--offset", "-1", "a whole number (0 or more)"],
    ]) {
      const bad = await kilnFails("datasets:get", "header-only", option!, value!);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(new RegExp(`^error: option '${option} <n>' argument '${value}' is invalid\\. It takes ${says.replace(/[()]/g, "\\$&")}\\.\n`));
    }

    const missing = await kilnFails("datasets:get", "people.csv");
    expect(missing.stderr).toBe(
      'kiln: dataset projects/default/datasets/people.csv not found (DATASET_NOT_FOUND)\nkiln: people.csv is a file here; a local file is given by a path with a "/": ./people.csv\n',
    );
    expect((await kilnFails("datasets:get", "elsewhere.csv")).stderr).not.toMatch(/is a file here/);
  });

  it("appends text files in the dataset's column types (a day of whole amounts to a Float64 column), refusing what does not fit them", async () => {
    const put = async (file: string, text: string, ...flags: string[]) => {
      await writeFile(join(server.dir, file), text);
      return kiln("datasets:put", "sales", join(server.dir, file), ...flags);
    };
    await put("d1.csv", "day,store,amount\n2026-12-01,a,1.5\n2026-12-01,b,2.25\n", "--mode", "create");
    expect(await put("d2.csv", "day,store,amount\n2026-12-02,a,3\n2026-12-02,b,4\n")).toMatch(/version 2, 4 rows/); // inferred alone: amount Int64
    expect(await put("d3.ndjson", '{"day": "2026-12-03", "store": "c", "amount": 5}\n{"day": "2026-12-03", "amount": 6.5}\n', "--mode", "append")).toMatch(/version 3, 6 rows/);
    const shown = JSON.parse(await kiln("--json", "datasets:show", "sales")) as { latest: { fields: { name: string; type: string }[] } };
    expect(shown.latest.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(["day: Timestamp<MILLISECOND>", "store: Utf8", "amount: Float64"]);
    expect((await kiln("datasets:get", "sales", "--columns", "store,amount")).trim().split("\n").slice(3)).toEqual(["a,3", "b,4", "c,5", ",6.5"]);
    // What does not fit is refused naming the dataset, and nothing is stored.
    await writeFile(join(server.dir, "d4.csv"), "day,store,amount\n2026-12-04,a,lots\n");
    expect((await kilnFails("datasets:put", "sales", join(server.dir, "d4.csv"))).stderr).toContain('CSV row 1, column "amount": "lots" is not Float64 (as the column is in dataset sales)');
    await writeFile(join(server.dir, "d5.ndjson"), '{"day": "2026-12-05", "amount": 1, "extra": true}\n');
    expect((await kilnFails("datasets:put", "sales", join(server.dir, "d5.ndjson"))).stderr).toContain('row 1 has a column "extra" not in dataset sales');
    expect(JSON.parse(await kiln("--json", "datasets:show", "sales")).latestVersion).toBe(3);
    // Replacing starts over: types inferred from the file again.
    expect(await put("d6.csv", "day,store,amount\n2026-12-06,a,3\n", "--mode", "replace")).toMatch(/version 4, 1 rows/);
    const replaced = JSON.parse(await kiln("--json", "datasets:show", "sales")) as { latest: { fields: { name: string; type: string }[] } };
    expect(replaced.latest.fields.map((f) => f.type)).toEqual(["Timestamp<MILLISECOND>", "Utf8", "Int64"]);
  });

  it("puts a SQL query's rows (--sql, --from sqlite:…), typed by the database, and refuses a query without its source", async () => {
    const file = join(server.dir, "shop.db");
    const db = new Database(file);
    db.exec("CREATE TABLE sales (id INTEGER, region TEXT, amount REAL)");
    const insert = db.prepare("INSERT INTO sales VALUES (?, ?, ?)");
    for (let i = 1; i <= 5; i++) insert.run(BigInt(i), i % 2 ? "EU" : "US", i * 1.5);
    db.close();
    const printed = await kiln("datasets:put", "eu-sales", "--sql", "SELECT id, amount FROM sales WHERE region = ? ORDER BY id", "--sql-param", "EU", "--from", `sqlite:${file}`);
    expect(printed).toMatch(new RegExp(`^eu-sales: version 1, 3 rows, .* \\(from sqlite:${file}\\)$`, "m"));
    expect((await kiln("datasets:get", "eu-sales")).trim().split("\n")).toEqual(["id,amount", "1,1.5", "3,4.5", "5,7.5"]);
    const info = JSON.parse(await kiln("--json", "datasets:show", "eu-sales")) as { latest: { fields: { name: string; type: string }[] } };
    expect(info.latest.fields.map((f) => [f.name, f.type])).toEqual([["id", "Int64"], ["amount", "Float64"]]);
    expect((await kilnFails("datasets:put", "x", "--sql", "SELECT 1")).stderr).toMatch(/--sql and --from go together/);
    expect((await kilnFails("datasets:put", "x", join(server.dir, "people.csv"), "--sql", "SELECT 1", "--from", `sqlite:${file}`)).stderr).toMatch(/not both/);
    expect((await kilnFails("datasets:put", "x")).stderr).toMatch(/name a file to store/);
    expect((await kilnFails("datasets:put", "x", "--sql", "SELECT nope FROM sales", "--from", `sqlite:${file}`)).stderr).toMatch(/no such column: nope/);
    expect((await kilnFails("datasets:show", "x")).code).toBe(1); // nothing stored by a refused put
  });

  it("profiles a local file and compares it with a dataset or another file, here (datasets:profile ./x.csv, datasets:drift)", async () => {
    await writeFile(join(server.dir, "later.csv"), "name,age,country,vip\nfy,70,JP,false\ngus,75,JP,true\nha,80,JP,false\nio,85,JP,false\n");
    const profile = await kiln("datasets:profile", "./people.csv", "--columns", "age,country");
    expect(profile).toMatch(/^\.\/people\.csv: 4 rows\n/);
    expect(profile).toMatch(/^age\s+Int64\s+4\s+0\s+4\s+25\s+37\s+37\.5\s+51/m);
    expect(profile).toMatch(/^country\s+Utf8\s+4\s+0\s+3\s+FR \(2\), DE \(1\), US \(1\)$/m);
    // No server needed for two files: a URL nothing listens at is never called.
    const files = await run(process.execPath, [KILN_BIN, "--url", "http://127.0.0.1:9", "datasets:drift", "./people.csv", "./later.csv", "--columns", "age,country"], { cwd: server.dir });
    expect(files.stdout).toMatch(/^\.\/people\.csv \(4 rows\) → \.\/later\.csv \(4 rows\)\n/);
    expect(files.stdout).toMatch(/^country\s+categorical\s+\S+\s+chi2\s+\S+\s+\S+\s+JP\s+yes/m);
    expect(files.stdout).toMatch(/2 of 2 columns drifted: age, country\n$/);
    await kiln("datasets:put", "people-drift", join(server.dir, "people.csv"));
    const mixed = await kiln("datasets:drift", "people-drift@1", "./people.csv", "--columns", "age,vip");
    expect(mixed).toMatch(/^people-drift@1 \(4 rows\) → \.\/people\.csv \(4 rows\)\n/);
    expect(mixed).toMatch(/no drift in 2 columns\n$/);
  });

  it("a bad filter is reported with its position and exit code 1", async () => {
    await kiln("datasets:put", "f", join(server.dir, "people.csv"));
    const bad = await kilnFails("datasets:get", "f", "--filter", "age >");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/position 5/);
  });

  it("reads Parquet files (row group by row group)", async () => {
    const { parquetWriteBuffer } = await import("hyparquet-writer");
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: "id", data: [1, 2, 3], type: "INT32" },
        { name: "city", data: ["Berlin", "Paris", null], type: "STRING" },
        { name: "score", data: [0.5, 1.5, 2.5], type: "DOUBLE" },
      ],
      rowGroupSize: 2,
    });
    await writeFile(join(server.dir, "cities.parquet"), new Uint8Array(buffer));
    expect(await kiln("datasets:put", "cities", join(server.dir, "cities.parquet"))).toMatch(/version 1, 3 rows/);
    const csv = await kiln("datasets:get", "cities", "--filter", "score > 1");
    expect(csv.trim().split("\n")).toEqual(["id,city,score", "2,Paris,1.5", "3,,2.5"]);

    // Row groups of many pages (each decoded piece placed at its rows), values with nulls and without.
    const n = 1000;
    const paged = parquetWriteBuffer({
      columnData: [
        { name: "i", data: Array.from({ length: n }, (_, i) => i), type: "INT32", nullable: false },
        { name: "x", data: Array.from({ length: n }, (_, i) => (i % 7 ? i / 4 : null)), type: "DOUBLE" },
      ],
      rowGroupSize: 600,
      pageSize: 256,
    });
    await writeFile(join(server.dir, "paged.parquet"), new Uint8Array(paged));
    await kiln("datasets:put", "paged", join(server.dir, "paged.parquet"));
    const back = (await kiln("datasets:get", "paged")).trim().split("\n").slice(1);
    expect(back).toEqual(Array.from({ length: n }, (_, i) => `${i},${i % 7 ? i / 4 : ""}`));

    // Strings come in as their UTF-8 bytes: nulls, empty strings, any script, dictionary-encoded repeats, across pages and row groups.
    const texts = Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : i % 13 === 0 ? "" : i % 2 ? `wörld-${i % 7}-😀` : `id-${i}`));
    const stringy = parquetWriteBuffer({
      columnData: [
        { name: "s", data: texts, type: "STRING" },
        { name: "k", data: texts.map((_, i) => `k${i % 3}`), type: "STRING", nullable: false },
      ],
      rowGroupSize: 600,
      pageSize: 256,
    });
    await writeFile(join(server.dir, "strings.parquet"), new Uint8Array(stringy));
    await kiln("datasets:put", "strings", join(server.dir, "strings.parquet"));
    const rowsBack = (await kiln("datasets:get", "strings", "--format", "ndjson")).trim().split("\n").map((line) => JSON.parse(line) as { s: string | null; k: string });
    expect(rowsBack).toEqual(texts.map((t, i) => ({ s: t, k: `k${i % 3}` })));

    // Column types come from the file's schema, not from the values of its first row group.
    const typed = parquetWriteBuffer({
      columnData: [
        { name: "small", data: [1, 2, 3], type: "INT32" },
        { name: "big", data: [9007199254740993n, 2n, 3n], type: "INT64" },
        { name: "weight", data: [0.5, 0.25, 0.125], type: "FLOAT" },
        { name: "late", data: [null, null, 2.5], type: "DOUBLE" }, // all null in the first row group
        { name: "at", data: [new Date("2026-12-04T08:00:00Z"), null, new Date(0)], type: "TIMESTAMP" },
        { name: "raw", data: [Uint8Array.of(1, 2), Uint8Array.of(), null], type: "BYTE_ARRAY" },
        { name: "meta", data: [{ a: 1 }, [1, 2], null], type: "JSON" },
      ],
      rowGroupSize: 2,
    });
    await writeFile(join(server.dir, "typed-in.parquet"), new Uint8Array(typed));
    await kiln("datasets:put", "typed-in", join(server.dir, "typed-in.parquet"));
    const shown = JSON.parse(await kiln("--json", "datasets:show", "typed-in")) as { latest: { fields: { name: string; type: string }[] } };
    expect(shown.latest.fields.map((f) => `${f.name}: ${f.type}`)).toEqual([
      "small: Int32",
      "big: Int64",
      "weight: Float32",
      "late: Float64",
      "at: Timestamp<MILLISECOND>",
      "raw: Binary",
      "meta: Utf8",
    ]);
    expect((await kiln("datasets:get", "typed-in", "--columns", "big,weight,late,at,meta")).trim().split("\n")).toEqual([
      "big,weight,late,at,meta",
      '9007199254740993,0.5,,2026-12-04T08:00:00.000Z,"{""a"":1}"',
      '2,0.25,,,"[1,2]"',
      "3,0.125,2.5,1970-01-01T00:00:00.000Z,",
    ]);
  });

  it("writes Parquet files with -o, each column typed as in the dataset; not to stdout", async () => {
    const typed = new Table({
      id: vectorFromArray([9007199254740993n, 2n, 3n], new Int64()),
      name: vectorFromArray(["ana", null, "cy"], new Utf8()),
      score: vectorFromArray([0.5, 1.25, null], new Float64()),
      weight: vectorFromArray([0.1, 0.2, 0.3], new Float32()),
      half: vectorFromArray([0.5, -1.5, 2], new Float16()), // no nulls: the typed-array path
      small: vectorFromArray([-3, 0, 7], new Int16()),
      vip: vectorFromArray([true, false, null], new Bool()),
      at: vectorFromArray([Date.parse("2026-12-04T08:00:00Z"), null, 0], new TimestampMillisecond()),
      tags: vectorFromArray([["a", "b"], [], null], new List(new Field("item", new Utf8(), true))),
    });
    await writeFile(join(server.dir, "typed.arrow"), tableToIPC(typed, "stream"));
    await kiln("datasets:put", "typed", join(server.dir, "typed.arrow"));
    const file = join(server.dir, "typed.parquet");
    expect(await kiln("datasets:get", "typed", "-o", file)).toBe("");
    const bytes = await readFile(file);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    const { parquetMetadata, parquetReadObjects } = await import("hyparquet");
    expect(parquetMetadata(buffer).schema.slice(1).map((e) => [e.name, e.type, e.converted_type])).toEqual([
      ["id", "INT64", undefined],
      ["name", "BYTE_ARRAY", "UTF8"],
      ["score", "DOUBLE", undefined],
      ["weight", "FLOAT", undefined],
      ["half", "FLOAT", undefined],
      ["small", "INT32", "INT_16"],
      ["vip", "BOOLEAN", undefined],
      ["at", "INT64", "TIMESTAMP_MILLIS"],
      ["tags", "BYTE_ARRAY", "JSON"],
    ]);
    expect(await parquetReadObjects({ file: buffer })).toEqual([
      { id: 9007199254740993n, name: "ana", score: 0.5, weight: Math.fround(0.1), half: 0.5, small: -3, vip: true, at: new Date("2026-12-04T08:00:00Z"), tags: ["a", "b"] },
      { id: 2n, name: null, score: 1.25, weight: Math.fround(0.2), half: -1.5, small: 0, vip: false, at: null, tags: [] },
      { id: 3n, name: "cy", score: null, weight: Math.fround(0.3), half: 2, small: 7, vip: null, at: new Date(0), tags: null },
    ]);
    // Back in as a dataset: the ids exactly.
    await kiln("datasets:put", "typed-again", file);
    expect((await kiln("datasets:get", "typed-again", "--columns", "id,name")).trim().split("\n")).toEqual(["id,name", "9007199254740993,ana", "2,", "3,cy"]);
    expect((await kilnFails("datasets:get", "typed", "--format", "parquet")).stderr).toMatch(/Parquet is written to a file \(-o FILE.parquet\), not stdout/);
  });
});
