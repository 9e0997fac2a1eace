import { describe, expect, it } from "vitest";
import {
  Binary,
  Bool,
  DateDay,
  Decimal,
  Dictionary,
  Field,
  FixedSizeList,
  Float16,
  Float32,
  Float64,
  Int32,
  Int64,
  Int8,
  LargeUtf8,
  List,
  Struct,
  Table,
  TimestampMicrosecond,
  TimestampMillisecond,
  Uint64,
  Utf8,
  vectorFromArray,
  type DataType,
} from "apache-arrow";
import { batchesToIpc, decodeChunk, mergeIpcChunks, tableToIpc } from "../src/index.js";

/** A chunk of one column with these values, encoded as the SDK encodes a write's chunk. */
function chunkOf(type: DataType, values: unknown[]): Uint8Array {
  return tableToIpc(new Table({ c: vectorFromArray(values, type) }));
}

const shown = (values: unknown[]) =>
  JSON.stringify(values, (_k, v) => (typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? [...v] : v && typeof v === "object" && "toJSON" in v ? v.toJSON() : v));

const valuesOf = (chunk: Uint8Array) => [...decodeChunk(chunk).getChild("c")!];

const flat: [string, DataType, unknown[], unknown[]][] = [
  ["Int8", new Int8(), [1, -2, 3], [null, 4]],
  ["Int64", new Int64(), [1n, -(2n ** 62n)], [2n ** 40n, null]],
  ["Uint64", new Uint64(), [2n ** 63n, 0n], [1n]],
  ["Float16", new Float16(), [0.5, -2], [1.5]],
  ["Float32", new Float32(), [1.5, NaN], [-0, null]],
  ["Float64", new Float64(), [1e300, -0, Infinity], [NaN, 2.5]],
  ["Utf8", new Utf8(), ["a", "", "ünï"], [null, "z"]],
  ["LargeUtf8", new LargeUtf8(), ["long", null], ["er"]],
  ["Bool", new Bool(), [true, false, null], [true]],
  ["Binary", new Binary(), [new Uint8Array([1, 2]), new Uint8Array()], [null, new Uint8Array([255])]],
  ["DateDay", new DateDay(), [Date.UTC(2026, 0, 1), null], [0]],
  ["TimestampMillisecond", new TimestampMillisecond(), [1_700_000_000_123, 0], [null, -1000]],
  ["TimestampMicrosecond", new TimestampMicrosecond(), [1_700_000_000_123, 1], [2]],
  ["Dictionary<Utf8>", new Dictionary(new Utf8(), new Int32()), ["x", "y", "x"], ["z", null, "y"]],
  ["Struct", new Struct([new Field("a", new Int32(), true), new Field("b", new Utf8(), true)]), [{ a: 1, b: "q" }, { a: null, b: null }], [null, { a: 3, b: "" }]],
];

const nested: [string, DataType, unknown[], unknown[]][] = [
  ["List<Float64>", new List(new Field("item", new Float64(), true)), [[1, 2], []], [null, [3]]],
  ["FixedSizeList", new FixedSizeList(2, new Field("item", new Float32(), true)), [[1, 2], [3, 4]], [null]],
  ["Struct with a list", new Struct([new Field("l", new List(new Field("item", new Int32(), true)), true)]), [{ l: [1] }], [{ l: [2, 3] }]],
  ["Decimal", new Decimal(2, 10, 128), [new Uint32Array([1, 0, 0, 0])], [new Uint32Array([7, 0, 0, 0])]],
];

describe("mergeIpcChunks", () => {
  it.each(flat)("merges %s chunks into one batch, every value and the type kept", (_name, type, a, b) => {
    const chunks = [chunkOf(type, a), chunkOf(type, b), chunkOf(type, a)];
    const merged = mergeIpcChunks(chunks);
    const table = decodeChunk(merged);
    expect(table.batches).toHaveLength(1);
    expect(String(table.schema.fields[0]!.type)).toBe(String(type));
    expect(shown(valuesOf(merged))).toBe(shown(chunks.flatMap(valuesOf)));
  });

  it.each(nested)("keeps the batches of %s chunks as they were, every value exact", (_name, type, a, b) => {
    const chunks = [chunkOf(type, a), chunkOf(type, b)];
    const merged = mergeIpcChunks(chunks);
    const table = decodeChunk(merged);
    expect(table.batches).toHaveLength(2);
    expect(String(table.schema.fields[0]!.type)).toBe(String(type));
    expect(shown(valuesOf(merged))).toBe(shown(chunks.flatMap(valuesOf)));
  });

  it("merges chunks of several batches and columns, keeping the rows' order and the column order", () => {
    const part = (from: number, n: number) =>
      new Table({
        z: vectorFromArray(Float64Array.from({ length: n }, (_, i) => from + i)),
        a: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 3 === 0 ? null : `r${from + i}`)), new Utf8()),
      });
    const first = batchesToIpc([...part(0, 5).batches, ...part(5, 3).batches]);
    const second = tableToIpc(part(8, 4));
    const table = decodeChunk(mergeIpcChunks([first, second]));
    expect(table.batches).toHaveLength(1);
    expect(table.schema.fields.map((f) => f.name)).toEqual(["z", "a"]);
    expect([...table.getChild("z")!]).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect([...table.getChild("a")!]).toEqual([...part(0, 5).getChild("a")!, ...part(5, 3).getChild("a")!, ...part(8, 4).getChild("a")!]);
  });

  it("merges a chunk of no rows with others", () => {
    const merged = decodeChunk(mergeIpcChunks([chunkOf(new Int32(), []), chunkOf(new Int32(), [1, 2])]));
    expect([...merged.getChild("c")!]).toEqual([1, 2]);
  });
});
