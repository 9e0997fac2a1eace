import { describe, expect, it } from "vitest";
import { DataType, DateDay, Field, Float64, Int32, List, RecordBatch, Table, tableFromArrays, TimestampMillisecond, Utf8, vectorFromArray } from "apache-arrow";
import {
  batchesToIpc,
  batchesToIpcChunks,
  projectColumns,
  batchesToNdjson,
  bytesToTensor,
  columnsToTable,
  DataFormatError,
  decodeChunk,
  describeFields,
  parseCsv,
  parseJsonArray,
  parseJsonExact,
  parseTimestamp,
  parseNdjson,
  rowsToTable,
  schemaFromIpc,
  schemasEqual,
  schemaToIpc,
  selectRows,
  tableToColumns,
  shortestFloat32,
  tableToCsv,
  tableToRows,
  tensorToBytes,
} from "../src/index.js";

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("rows, columns and Arrow", () => {
  it("round-trips rows with every JS type", () => {
    const rows = [
      { n: 1.5, i: 2, big: 9007199254740993n, s: "x", b: true, d: new Date("2024-01-02T03:04:05Z"), o: { a: [1] }, nil: null },
      { n: -0.25, i: 3, big: 1n, s: "ü", b: false, d: new Date(0), o: null, nil: null },
    ];
    const t = rowsToTable(rows);
    expect(describeFields(t.schema).map((f) => f.type)).toEqual(["Float64", "Float64", "Int64", "Utf8", "Bool", "Timestamp<MILLISECOND>", "Utf8", "Utf8"]);
    const back = tableToRows(t);
    expect(back[0]).toEqual({ ...rows[0], o: '{"a":[1]}' });
    expect(back[1]).toEqual({ ...rows[1], big: 1 }); // Int64 comes back as a number when it is safe
    // Objects holding 64-bit integers (a Parquet list of INT64, say) become JSON text too, exactly.
    expect(tableToRows(rowsToTable([{ o: { ids: [1n, 9007199254740993n] } }]))).toEqual([{ o: '{"ids":[1,"9007199254740993"]}' }]);
  });

  it("keeps typed-array column types and gives them back", () => {
    const t = columnsToTable({ f: new Float32Array([1, 2]), i: new Int32Array([3, 4]), s: ["a", null] });
    expect(describeFields(t.schema).map((f) => f.type)).toEqual(["Float32", "Int32", "Utf8"]);
    const cols = tableToColumns(t);
    expect(cols.f).toBeInstanceOf(Float32Array);
    expect(Array.from(cols.i as Int32Array)).toEqual([3, 4]);
    expect(cols.s).toEqual(["a", null]);
  });

  it("selects rows of every type, nulls included", () => {
    const t = rowsToTable([
      { a: 1, s: "x", b: true, d: new Date(1000), big: 1n },
      { a: null, s: null, b: null, d: null, big: null },
      { a: 3, s: "z", b: false, d: new Date(3000), big: 3n },
    ]);
    const picked = new Table(selectRows(t.batches[0], new Uint32Array([1, 2])));
    expect(tableToRows(picked)).toEqual([
      { a: null, s: null, b: null, d: null, big: null },
      { a: 3, s: "z", b: false, d: new Date(3000), big: 3 },
    ]);
    const numeric = tableFromArrays({ x: new Float64Array([5, 6, 7]) });
    expect(Array.from(new Table(selectRows(numeric.batches[0], new Uint32Array([0, 2]))).getChild("x")!.toArray())).toEqual([5, 7]);
  });

  it("projects any columns in any order, also after a row selection and a slice", () => {
    const t = rowsToTable([
      { a: 1, b: "x", c: true },
      { a: 2, b: "y", c: false },
      { a: 3, b: "z", c: null },
    ]);
    const batch = t.batches[0];
    expect(tableToRows(new Table(projectColumns(batch, ["b"])))).toEqual([{ b: "x" }, { b: "y" }, { b: "z" }]);
    expect(tableToRows(new Table(projectColumns(batch, ["c", "a"])))).toEqual([
      { c: true, a: 1 },
      { c: false, a: 2 },
      { c: null, a: 3 },
    ]);
    const picked = projectColumns(selectRows(batch, new Uint32Array([1, 2])), ["b"]);
    expect(tableToRows(decodeChunk(batchesToIpc([picked])))).toEqual([{ b: "y" }, { b: "z" }]);
    expect(tableToRows(new Table(projectColumns(batch.slice(1, 3), ["c"])))).toEqual([{ c: false }, { c: null }]);
    expect(() => projectColumns(batch, ["nope"])).toThrow(/unknown column "nope"/);
  });

  it("encodes schemas and chunks, and refuses bytes that are not Arrow", () => {
    const t = tableFromArrays({ a: new Int32Array([1]), b: ["x"] });
    expect(schemasEqual(schemaFromIpc(schemaToIpc(t.schema)), t.schema)).toBe(true);
    expect(schemasEqual(t.schema, tableFromArrays({ a: new Float64Array([1]), b: ["x"] }).schema)).toBe(false);
    expect(() => decodeChunk(new Uint8Array([1, 2, 3]))).toThrow(DataFormatError);
    expect(() => decodeChunk(new TextEncoder().encode("this is not an arrow stream at all"))).toThrow(DataFormatError);
  });

  it("splits batches into IPC chunks under a size and keeps every row", async () => {
    const t = tableFromArrays({ v: Float64Array.from({ length: 100_000 }, (_, i) => i) }); // 800 KB
    const chunks = await all(batchesToIpcChunks(t.batches, 200_000));
    expect(chunks.length).toBeGreaterThanOrEqual(4);
    expect(chunks.every((c) => c.length < 260_000)).toBe(true);
    const values = chunks.flatMap((c) => Array.from(decodeChunk(c).getChild("v")!.toArray() as Float64Array));
    expect(values.length).toBe(100_000);
    expect(values[99_999]).toBe(99_999);
  });

  it("encodes columns that are the very same array (Arrow JS would write an unreadable stream)", () => {
    const shared = Float64Array.from({ length: 10 }, (_, i) => i / 2);
    const t = tableFromArrays({ id: Int32Array.from({ length: 10 }, (_, i) => i), a: shared, b: shared });
    const back = decodeChunk(batchesToIpc(t.batches));
    expect(back.numRows).toBe(10);
    expect(Array.from(back.getChild("b")!.toArray() as Float64Array)).toEqual(Array.from(shared));
    expect(Array.from(back.getChild("id")!.toArray() as Int32Array)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it("turns tensors into little-endian bytes and back", () => {
    const data = new Float64Array([1.5, -2, 3, 4, 5, 6]);
    const bytes = tensorToBytes(data, [2, 3]);
    expect(bytes.length).toBe(48);
    expect(new DataView(bytes.buffer, bytes.byteOffset).getFloat64(0, true)).toBe(1.5);
    const back = bytesToTensor("float64", [2, 3], bytes.slice(0));
    expect(Array.from(back.data as Float64Array)).toEqual(Array.from(data));
    expect(() => tensorToBytes(data, [4, 2])).toThrow(/holds 8 elements/);
    const unaligned = new Uint8Array(9).subarray(1);
    unaligned.set(new Uint8Array(new Int32Array([7, 8]).buffer));
    expect(Array.from(bytesToTensor("int32", [2], unaligned).data as Int32Array)).toEqual([7, 8]);
  });
});

describe("CSV and NDJSON", () => {
  it("parses quoting, embedded delimiters and newlines, CRLF, empty cells, and infers types", async () => {
    const csv = 'id,name,score,ok,when\r\n1,"Smith, J",1.5,true,2024-01-01\r\n2,"say ""hi""\nthere",,FALSE,2024-02-03T04:05:06Z\r\n3,,2e3,true,\r\n';
    const [batch] = await all(parseCsv(csv));
    expect(describeFields(batch.schema).map((f) => `${f.name}:${f.type}`)).toEqual(["id:Int64", "name:Utf8", "score:Float64", "ok:Bool", "when:Timestamp<MILLISECOND>"]);
    expect(tableToRows(new Table(batch))).toEqual([
      { id: 1, name: "Smith, J", score: 1.5, ok: true, when: new Date("2024-01-01T00:00:00Z") },
      { id: 2, name: 'say "hi"\nthere', score: null, ok: false, when: new Date("2024-02-03T04:05:06Z") },
      { id: 3, name: null, score: 2000, ok: true, when: null },
    ]);
  });

  it("streams a large CSV in bounded batches, split at any byte", async () => {
    const rows = 200_000;
    const text = "a,b\n" + Array.from({ length: rows }, (_, i) => `${i},"v${i}"`).join("\n") + "\n";
    const bytes = new TextEncoder().encode(text);
    const pieces = (function* () {
      for (let i = 0; i < bytes.length; i += 7777) yield bytes.subarray(i, i + 7777);
    })();
    const batches = await all(parseCsv(pieces, { batchRows: 50_000 }));
    expect(batches.map((b) => b.numRows)).toEqual([50_000, 50_000, 50_000, 50_000]);
    expect(tableToRows(new Table(batches[3])).at(-1)).toEqual({ a: rows - 1, b: `v${rows - 1}` });
  });

  it("reports a row that breaks the inferred type or the field count", async () => {
    await expect(all(parseCsv("a\n1\n2\nx\n", { batchRows: 2 }))).rejects.toThrow(/row 3, column "a": "x" is not Int64/);
    await expect(all(parseCsv("a,b\n1,2\n3\n"))).rejects.toThrow(/row 2 has 1 fields/);
    await expect(all(parseCsv('a\n"open\n'))).rejects.toThrow(DataFormatError);
  });

  it("reads whole numbers of up to 19 digits as Int64, exactly (ids past 2^53 do not round), and longer ones as their text", async () => {
    const csv = "id,big,small\n9007199254740993,123456789012345678901,1\n-9223372036854775808,1,2\n";
    const [batch] = await all(parseCsv(csv));
    expect(describeFields(batch!.schema).map((f) => f.type)).toEqual(["Int64", "Utf8", "Int64"]);
    expect(tableToRows(new Table([batch!]))).toEqual([
      { id: 9007199254740993n, big: "123456789012345678901", small: 1 },
      { id: -9223372036854775808n, big: "1", small: 2 },
    ]);
    const [past] = await all(parseCsv("id\n9223372036854775808\n"));
    expect(describeFields(past!.schema).map((f) => f.type)).toEqual(["Utf8"]);
    expect((await all(tableToCsv([batch!]))).join("")).toBe("id,big,small\n9007199254740993,123456789012345678901,1\n-9223372036854775808,1,2\n");
  });

  it("reads CSV cells into given column types (a dataset's, to append to it), inferring the others", async () => {
    const types = new Map<string, DataType>([
      ["amount", new Float64()],
      ["count", new Int32()],
      ["day", new DateDay()],
      ["tags", new List(new Field("item", new Utf8()))], // not a cell's type: inferred
    ]);
    const csv = "amount,count,day,tags,other\n3,7,2026-12-04,x,1\n4,,2026-12-05,y,2\n";
    const [batch] = await all(parseCsv(csv, { types, typesFrom: "dataset sales" }));
    expect(describeFields(batch!.schema).map((f) => `${f.name}: ${f.type}`)).toEqual(["amount: Float64", "count: Int32", "day: Date32<DAY>", "tags: Utf8", "other: Int64"]);
    expect(tableToRows(new Table([batch!]))).toEqual([
      { amount: 3, count: 7, day: new Date("2026-12-04T00:00:00Z"), tags: "x", other: 1 },
      { amount: 4, count: null, day: new Date("2026-12-05T00:00:00Z"), tags: "y", other: 2 },
    ]);
    await expect(all(parseCsv("count\n3000000000\n", { types, typesFrom: "dataset sales" }))).rejects.toThrow('CSV row 1, column "count": "3000000000" is not Int32 (as the column is in dataset sales)');
  });

  it("reads a timestamp without a zone as UTC, whatever the zone of the machine reading it", async () => {
    const csv = "when\n2026-12-04 08:00:00\n2026-12-04T08:00\n2026-12-04\n2026-12-04T08:00:00+02:00\n";
    const expected = [Date.UTC(2026, 11, 4, 8), Date.UTC(2026, 11, 4, 8), Date.UTC(2026, 11, 4), Date.UTC(2026, 11, 4, 6)];
    const zone = process.env.TZ;
    try {
      for (const tz of ["UTC", "America/New_York", "Asia/Tokyo"]) {
        process.env.TZ = tz; // V8 reads TZ again when it changes
        const [batch] = await all(parseCsv(csv));
        expect([...batch!.getChild("when")!].map(Number)).toEqual(expected);
        expect(parseTimestamp("2026-12-04 08:00")).toBe(Date.UTC(2026, 11, 4, 8));
      }
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("writes CSV with RFC 4180 quoting and reads it back the same", async () => {
    const t = rowsToTable([
      { s: 'a,"b"', n: 1, nil: null },
      { s: "line\nbreak", n: 2.5, nil: null },
    ]);
    const text = (await all(tableToCsv(t.batches))).join("");
    expect(text).toBe('s,n,nil\n"a,""b""",1,\n"line\nbreak",2.5,\n');
    const [again] = await all(parseCsv(text));
    expect(tableToRows(new Table(again)).map((r) => r.s)).toEqual(['a,"b"', "line\nbreak"]);
  });

  it("writes a DateDay as its day and a timestamp in full, in CSV and JSON", async () => {
    const t = new Table({
      day: vectorFromArray([Date.parse("2026-12-04T00:00:00Z"), null], new DateDay()),
      at: vectorFromArray([Date.parse("2026-12-04T08:30:00Z"), 0], new TimestampMillisecond()),
    });
    expect((await all(tableToCsv(t.batches))).join("")).toBe("day,at\n2026-12-04,2026-12-04T08:30:00.000Z\n,1970-01-01T00:00:00.000Z\n");
    expect((await all(batchesToNdjson(t.batches))).join("").trim().split("\n").map((l) => JSON.parse(l))).toEqual([
      { day: "2026-12-04", at: "2026-12-04T08:30:00.000Z" },
      { day: null, at: "1970-01-01T00:00:00.000Z" },
    ]);
  });

  it("writes a Float32 as the shortest decimal that reads back as the same float32, as numpy prints it", async () => {
    const values = new Float32Array([0.9, 0.97703617811203, 1 / 3, 16777217, 1e-40, -0, Number.NaN]);
    const t = columnsToTable({ p: values, d: Float64Array.from([0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) });
    const csv = (await all(tableToCsv(t.batches))).join("").trim().split("\n").slice(1);
    expect(csv.map((line) => line.split(",")[0])).toEqual(["0.9", "0.9770362", "0.33333334", "16777216", "1e-40", "0", "NaN"]);
    expect(csv[0]).toBe("0.9,0.9"); // a Float64 keeps its own digits
    for (const [i, text] of csv.entries()) if (i < 5) expect(Math.fround(Number(text.split(",")[0]))).toBe(values[i]);
    const json = (await all(batchesToNdjson(t.batches))).join("").trim().split("\n").map((l) => JSON.parse(l).p);
    expect(json).toEqual([0.9, 0.9770362, 0.33333334, 16777216, 1e-40, 0, null]);
    expect(shortestFloat32(Math.fround(3.4e38))).toBe(3.4e38);
    // Random float32s of every magnitude: each reads back, and none is longer than the shortest toPrecision finds.
    const bits = new Uint32Array(1);
    const float = new Float32Array(bits.buffer);
    const digits = (v: number) => v.toExponential().replace(/^-/, "").replace(/e.*$/, "").replace(".", "").length;
    for (let i = 0; i < 20_000; i++) {
      bits[0] = (Math.random() * 2 ** 32) >>> 0;
      // Half any bits, half the magnitudes predictions have (1e-7 to 1e9), which take the fast path.
      const x = i % 2 ? float[0]! : Math.fround((Math.random() < 0.5 ? -1 : 1) * 10 ** (Math.random() * 16 - 7));
      if (!Number.isFinite(x)) continue;
      const shortest = shortestFloat32(x);
      expect(Math.fround(shortest)).toBe(x);
      const byPrecision = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((p) => Number(x.toPrecision(p))).find((v) => Math.fround(v) === x)!;
      expect(digits(shortest)).toBeLessThanOrEqual(digits(byPrecision));
    }
  });

  it("reads a JSON array of rows as it streams in, split at any byte, strings with brackets, commas and escapes", async () => {
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: i, text: i % 3 ? `a, [b] {c} "q\\" ${i}` : "ü ∑ 😀", nested: { list: [i, [i + 1]], ok: i % 2 === 0 } }));
    const text = "\ufeff [\n" + rows.map((r) => JSON.stringify(r)).join(" ,\n") + "\n] \n";
    const bytes = new TextEncoder().encode(text);
    const expected = rows.map((r) => ({ ...r, nested: JSON.stringify(r.nested) })); // objects go in as JSON text columns
    for (const size of [1, 2, 3, 7, 64, bytes.length]) {
      const pieces = Array.from({ length: Math.ceil(bytes.length / size) }, (_, k) => bytes.subarray(k * size, (k + 1) * size));
      const batches = await all(parseJsonArray(pieces, { batchRows: 16 }));
      expect(tableToRows(new Table(batches))).toEqual(expected);
    }
    expect(await all(parseJsonArray([new TextEncoder().encode("[ ]")]))).toEqual([]);
    const refused = async (json: string) => all(parseJsonArray([new TextEncoder().encode(json)])).then(() => "", (e: Error) => e.message);
    expect(await refused('{"a": 1}')).toBe("a .json table file holds an array of row objects");
    expect(await refused('[{"a": 1}, 2]')).toBe("JSON array element 2 is not a row object");
    expect(await refused('[{"a": 1}, {"a": 2}')).toBe("the JSON array ends early (no closing ])");
    expect(await refused('[{"a": 1}] x')).toBe("text after the end of the JSON array");
    expect(await refused('[{"a": 1}, {"a" 2}]')).toMatch(/^JSON array, after element 0: /); // parsed as one run: the error names where the run starts
  });

  it("reads NDJSON in batches with the first batch's schema, and writes it", async () => {
    const lines = Array.from({ length: 5 }, (_, i) => JSON.stringify({ i, tag: i % 2 ? "odd" : "even" })).join("\n");
    const batches = await all(parseNdjson(lines, { batchRows: 2 }));
    expect(batches.map((b: RecordBatch) => b.numRows)).toEqual([2, 2, 1]);
    const text = (await all(batchesToNdjson(batches))).join("");
    expect(text.trim().split("\n").map((l) => JSON.parse(l))).toEqual(Array.from({ length: 5 }, (_, i) => ({ i, tag: i % 2 ? "odd" : "even" })));
    await expect(all(parseNdjson('{"a":1}\n{oops}\n'))).rejects.toThrow(/NDJSON line 2/);
  });

  it("reads whole numbers past 2^53 in JSON exactly (Int64), and ones past Int64 as their text", async () => {
    expect(parseJsonExact('{"id": 9007199254740993, "s": "12345678901234567890", "f": 1.2345678901234567e5, "n": -9223372036854775808, "big": 99999999999999999999, "small": 1234567890123456, "t": "a\\"9007199254740993"}')).toEqual({
      id: 9007199254740993n,
      s: "12345678901234567890",
      f: 123456.78901234567,
      n: -9223372036854775808n,
      big: "99999999999999999999",
      small: 1234567890123456,
      t: 'a"9007199254740993', // digits in a string (after an escaped quote) stay in it
    });
    // Such a number inside a string stays text there (the quick pattern matches it; the careful scan does not), and bad JSON fails as JSON.parse fails.
    expect(parseJsonExact('{"note": "ids: [ 9007199254740993, 2 ]", "id": 9007199254740995}')).toEqual({ note: "ids: [ 9007199254740993, 2 ]", id: 9007199254740995n });
    expect(() => parseJsonExact('{"id": 9007199254740993,}')).toThrow(/in JSON at position 24/);
    const ids = ['{"id": 9007199254740993, "x": 1}', '{"id": 12, "x": 2.5}'];
    for (const batches of [await all(parseNdjson(ids.join("\n"))), await all(parseJsonArray([new TextEncoder().encode(`[${ids.join(",")}]`)]))]) {
      const t = new Table(batches);
      expect(describeFields(t.schema).map((f) => `${f.name}: ${f.type}`)).toEqual(["id: Int64", "x: Float64"]);
      expect(t.getChild("id")!.toArray()).toEqual(BigInt64Array.of(9007199254740993n, 12n));
    }
  });

  it("refuses a later row that does not fit the first rows' columns or types, naming it, instead of coercing or dropping it", async () => {
    const read = (rows: unknown[]) => all(parseNdjson(rows.map((r) => JSON.stringify(r)).join("\n"), { batchRows: 2 }));
    await expect(read([{ v: true }, { v: false }, { v: "x" }])).rejects.toThrow('row 3, column "v": "x" is not Bool (types come from the first rows)');
    await expect(read([{ v: 1.5 }, { v: 2 }, { v: null }, { v: "x" }])).rejects.toThrow('row 4, column "v": "x" is not Float64');
    await expect(read([{ v: 1 }, { v: 2 }, { v: 3, w: 4 }])).rejects.toThrow('row 3 has a column "w" not in the first rows (columns come from the first rows)');
    // Text takes anything, as its text; a missing key is a null.
    const t = new Table(await read([{ v: "a", n: 1 }, { v: "b", n: 2 }, { v: 3 }]));
    expect(tableToRows(t)).toEqual([{ v: "a", n: 1 }, { v: "b", n: 2 }, { v: "3", n: null }]);
  });
});
