import { describe, expect, it } from "vitest";
import { commonRows, joinRows, keepsRows, sliceRows } from "../src/row-pieces.js";
import type { OnnxTensorMap } from "../src/tensor-data.js";

describe("row pieces", () => {
  it("finds the rows all feeds share, and none when they differ or a feed has no rows", () => {
    const a = { type: "float32" as const, dims: [3, 2], data: new Float32Array(6) };
    expect(commonRows({ a, b: { type: "int64", dims: [3], data: new BigInt64Array(3) } })).toBe(3);
    expect(commonRows({ a, b: { type: "float32", dims: [2, 3], data: new Float32Array(6) } })).toBeUndefined();
    expect(commonRows({ a, s: { type: "float32", dims: [], data: new Float32Array(1) } })).toBeUndefined();
    expect(commonRows({ a, t: { type: "string", dims: [3], data: ["x", "y", "z"] } })).toBeUndefined();
  });

  it("slices rows as views and joins pieces back in order", () => {
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    const feeds: OnnxTensorMap = { X: { type: "float32", dims: [4, 3], data } };
    const piece = sliceRows(feeds, 1, 3).X!;
    expect(piece.dims).toEqual([2, 3]);
    expect(Array.from(piece.data as Float32Array)).toEqual([3, 4, 5, 6, 7, 8]);
    expect((piece.data as Float32Array).buffer).toBe(data.buffer);

    const pieces: OnnxTensorMap[] = [
      { y: { type: "float32", dims: [2, 1], data: Float32Array.of(1, 2) }, label: { type: "string", dims: [2], data: ["a", "b"] } },
      { y: { type: "float32", dims: [1, 1], data: Float32Array.of(3) }, label: { type: "string", dims: [1], data: ["c"] } },
    ];
    expect(pieces.map((p, i) => keepsRows(p, [2, 1][i]!))).toEqual([true, true]);
    expect(joinRows(pieces)).toEqual({
      y: { type: "float32", dims: [3, 1], data: Float32Array.of(1, 2, 3) },
      label: { type: "string", dims: [3], data: ["a", "b", "c"] },
    });
  });

  it("does not join pieces whose outputs do not line up", () => {
    const one = { type: "float32" as const, dims: [1, 2], data: Float32Array.of(1, 2) };
    expect(keepsRows({ total: { type: "float32", dims: [2], data: Float32Array.of(1, 2) } }, 3)).toBe(false);
    expect(joinRows([{ y: one }, { y: { type: "float32", dims: [1, 3], data: Float32Array.of(1, 2, 3) } }])).toBeUndefined();
    expect(joinRows([{ y: one }, { y: { type: "float64", dims: [1, 2], data: Float64Array.of(1, 2) } }])).toBeUndefined();
    expect(joinRows([{ y: one }, { z: one }])).toBeUndefined();
  });
});
