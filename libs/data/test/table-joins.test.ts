import { Table, tableFromArrays, vectorFromArray, Dictionary, Utf8, Int32 } from "apache-arrow";
import { describe, expect, it } from "vitest";
import { interleaveRows, meanOfColumns, oneBatch, sharedColumns, sideBySide, tableOf, voteOfColumns, withColumnsOf, isNumberType } from "../src/index.js";

const rowsOf = (t: Table) => t.toArray().map((r) => r.toJSON());

describe("joining tables of the same rows", () => {
  it("puts parts answering some rows each back in row order, null where a part lacks a column, each column typed as its first part's", () => {
    const euro = tableFromArrays({ prediction: Float32Array.of(1.5, 2.5) });
    const rest = tableFromArrays({ prediction: Float32Array.of(9), note: ["other"] });
    const t = interleaveRows(3, [
      { rows: Uint32Array.of(0, 2), table: euro },
      { rows: Uint32Array.of(1), table: rest },
    ]);
    expect(t.schema.fields.map((f) => [f.name, String(f.type)])).toEqual([["prediction", "Float32"], ["note", "Utf8"]]);
    expect(rowsOf(t)).toEqual([{ prediction: 1.5, note: null }, { prediction: 9, note: "other" }, { prediction: 2.5, note: null }]);
  });

  it("makes one batch of many, with dictionary columns as their values", () => {
    const dict = vectorFromArray(["a", "b", "a"], new Dictionary(new Utf8(), new Int32()));
    const first = tableFromArrays({ x: Float64Array.of(1, 2, 3) });
    const second = tableFromArrays({ x: Float64Array.of(4) });
    const many = new Table([...first.batches, ...second.batches]);
    const batch = oneBatch(many);
    expect(batch.numRows).toBe(4);
    expect([...batch.getChild("x")!]).toEqual([1, 2, 3, 4]);
    const labelled = interleaveRows(3, [{ rows: Uint32Array.of(0, 1, 2), table: tableOf([{ name: "label", vector: dict }], 3) }]);
    expect(String(labelled.schema.fields[0]!.type)).toBe("Utf8");
    expect([...labelled.getChild("label")!]).toEqual(["a", "b", "a"]);
  });

  it("sets tables side by side under their names, and adds the columns of another the first lacks", () => {
    const a = tableFromArrays({ prediction: Float64Array.of(1, 2) });
    const b = tableFromArrays({ prediction: Float64Array.of(3, 4), extra: Int32Array.of(5, 6) });
    expect(rowsOf(sideBySide(2, [{ name: "a", table: a }, { name: "b", table: b }]))).toEqual([
      { "a.prediction": 1, "b.prediction": 3, "b.extra": 5 },
      { "a.prediction": 2, "b.prediction": 4, "b.extra": 6 },
    ]);
    expect(rowsOf(withColumnsOf(a, b))).toEqual([{ prediction: 1, extra: 5 }, { prediction: 2, extra: 6 }]);
    expect(rowsOf(withColumnsOf(a, b, []))).toEqual([{ prediction: 1 }, { prediction: 2 }]);
  });

  it("averages the number columns every table has, and votes on any, ties to the earliest table's value", () => {
    const t1 = tableFromArrays({ p: Float32Array.of(0.2, 0.8), label: ["no", "yes"], only: Int32Array.of(1, 1) });
    const t2 = tableFromArrays({ p: Float64Array.of(0.4, 0.6), label: ["yes", "yes"] });
    const t3 = tableFromArrays({ p: Int32Array.of(0, 1), label: ["maybe", "no"] });
    const t4 = tableFromArrays({ p: Int32Array.of(0, 1), label: ["yes", "no"] });
    const tables = [t1, t2, t3];
    expect(sharedColumns(tables, (types) => types.every(isNumberType))).toEqual(["p"]);
    expect(sharedColumns(tables, () => true)).toEqual(["p", "label"]);
    const mean = meanOfColumns(2, tables, ["p"]);
    expect(String(mean.schema.fields[0]!.type)).toBe("Float64");
    expect([...mean.getChild("p")!].map((v) => Number(v.toFixed(6)))).toEqual([0.2, 0.8]);
    // Row 1: no, yes, maybe → a tie of ones, the first table's "no"; row 2: yes twice.
    expect([...voteOfColumns(2, tables, ["label"]).getChild("label")!]).toEqual(["no", "yes"]);
    // Of four: row 1 no, yes, maybe, yes → yes; row 2 yes, no, no, yes → a tie of twos, the first table's "yes" (though "no" reached two first).
    expect([...voteOfColumns(2, [t1, t4, t3, t2], ["label"]).getChild("label")!]).toEqual(["yes", "yes"]);
  });
});
