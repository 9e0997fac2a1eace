import { describe, expect, it } from "vitest";
import { isColumnsFeed, matrixFromColumns } from "../src/columns-feed.js";
import { NonFiniteInputError } from "../src/errors.js";

describe("matrixFromColumns", () => {
  it("lays columns of any numeric array type out row-major, in a given array or a new one", () => {
    const feed = { type: "float32" as const, dims: [2, 3] as [number, number], columns: [Float64Array.of(0.1, 0.2, 99), Int32Array.of(-1, 2), Uint8Array.of(255, 0)] };
    expect(matrixFromColumns(feed)).toEqual({ type: "float32", dims: [2, 3], data: Float32Array.of(0.1, -1, 255, 0.2, 2, 0) });
    const into = new Float32Array(10).fill(7);
    const laid = matrixFromColumns(feed, into);
    if (Array.isArray(laid.data)) throw new Error("laid out as an array of strings");
    expect(laid.data.buffer).toBe(into.buffer);
    expect(Array.from(into)).toEqual([...Float32Array.of(0.1, -1, 255, 0.2, 2, 0)].concat([7, 7, 7, 7]));
    const doubles = matrixFromColumns({ ...feed, type: "float64" });
    expect(doubles.data).toEqual(Float64Array.of(0.1, -1, 255, 0.2, 2, 0));
    expect(isColumnsFeed(feed)).toBe(true);
    expect(isColumnsFeed(laid)).toBe(false);
  });

  it("with finite, fails on the first NaN or ±Infinity by row, naming its column; without, lays them out", () => {
    const feed = { type: "float32" as const, dims: [3, 2] as [number, number], columns: [Float64Array.of(1, 2, NaN), Int32Array.of(1, 2, 3)], finite: true };
    expect(() => matrixFromColumns(feed)).toThrow(expect.objectContaining({ column: 0, row: 2, message: "column 0 holds NaN at row 2" }));
    expect(() => matrixFromColumns({ ...feed, columns: [Float64Array.of(1, 2, NaN), Float32Array.of(1, -Infinity, 3)] })).toThrow(expect.objectContaining({ column: 1, row: 1, value: -Infinity }));
    expect(() => matrixFromColumns({ ...feed, type: "float64", columns: [Float64Array.of(1, Infinity, 3), Int32Array.of(1, 2, 3)] })).toThrow(NonFiniteInputError);
    expect(matrixFromColumns({ ...feed, finite: false }).data).toEqual(Float32Array.of(1, 1, 2, 2, NaN, 3));
    // Values past the matrix's rows are not its own.
    expect(matrixFromColumns({ ...feed, dims: [2, 2] }).data).toEqual(Float32Array.of(1, 1, 2, 2));
  });

  it("refuses columns that do not fill the matrix", () => {
    expect(() => matrixFromColumns({ type: "float32", dims: [2, 2], columns: [Float64Array.of(1, 2)] })).toThrow(/needs 2 columns, got 1/);
    expect(() => matrixFromColumns({ type: "float32", dims: [3, 1], columns: [Float64Array.of(1, 2)] })).toThrow(/column 0 has 2 values/);
  });
});
