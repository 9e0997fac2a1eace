import { describe, expect, it } from "vitest";
import { Field, Float64, Int32, List, Struct, Table, TimestampMillisecond, Utf8, vectorFromArray, Binary } from "apache-arrow";
import { batchJsonLines, batchJsonRows, columnsToTable, jsonRowPieces, rowsToTable } from "../src/index.js";

describe("JSON rows", () => {
  it("maps every kind of value to JSON, with nulls for what JSON lacks", () => {
    const table = columnsToTable({
      p: new Float32Array([0.9, Number.NaN]),
      d: new Float64Array([Number.POSITIVE_INFINITY, 2.5]),
      i: new BigInt64Array([2n ** 60n, -3n]),
      n: new Int32Array([7, 8]),
    });
    const more = new Table({
      at: vectorFromArray([Date.UTC(2026, 11, 4, 6, 30), null], new TimestampMillisecond()),
      tags: vectorFromArray([["a", "b"], []], new List(new Field("item", new Utf8(), true))),
      point: vectorFromArray([{ x: 1, y: "u" }, null], new Struct([new Field("x", new Float64()), new Field("y", new Utf8())])),
      bytes: vectorFromArray([new Uint8Array([1, 2, 3]), null], new Binary()),
      flag: vectorFromArray([true, null]),
      code: vectorFromArray([1, 2], new Int32()),
    });
    const pieces = [...jsonRowPieces([...table.batches, ...more.batches])];
    expect(pieces.map((p) => p.columns)).toEqual([["p", "d", "i", "n"], ["at", "tags", "point", "bytes", "flag", "code"]]);
    const rows = pieces.flatMap((p) => p.rows);
    expect(rows).toEqual([
      { p: 0.9, d: null, i: "1152921504606846976", n: 7 },
      { p: null, d: 2.5, i: -3, n: 8 },
      { at: "2026-12-04T06:30:00.000Z", tags: ["a", "b"], point: { x: 1, y: "u" }, bytes: "AQID", flag: true, code: 1 },
      { at: null, tags: [], point: null, bytes: null, flag: null, code: 2 },
    ]);
    // Every row survives the trip through JSON text unchanged (what a Connect JSON client reads).
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
    // The text written without making the objects is what JSON.stringify makes of them, also for names and strings to escape.
    const awkward = rowsToTable([{ 'say "hi"': 'a "quoted"\nline', ünï: "ü", n: null }, { 'say "hi"': "", ünï: "\u2028", n: 1.5 }]);
    for (const batch of [...table.batches, ...more.batches, ...awkward.batches]) {
      expect(batchJsonLines(batch)).toEqual([...batchJsonRows(batch)].map((row) => JSON.stringify(row)));
    }
  });

  it("splits a big batch into pieces of about the size asked, keeping every row in order", () => {
    const table = rowsToTable(Array.from({ length: 10_000 }, (_, i) => ({ id: i, name: `row number ${i}` })));
    const pieces = [...jsonRowPieces(table.batches, 16 * 1024)];
    expect(pieces.length).toBeGreaterThan(10);
    for (const piece of pieces.slice(0, -1)) expect(JSON.stringify(piece.rows).length).toBeLessThan(2 * 16 * 1024);
    expect(pieces.flatMap((p) => p.rows).map((r) => r.id)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect([...jsonRowPieces(rowsToTable([]).batches)]).toEqual([]);
  });
});
