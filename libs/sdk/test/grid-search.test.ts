import { describe, expect, it } from "vitest";
import { paramGrid } from "../src/grid-search.js";

describe("paramGrid", () => {
  it("gives every combination, the first param varying slowest, as sklearn's ParameterGrid", () => {
    expect(paramGrid({ C: [0.1, 1], penalty: ["l2", "none"] })).toEqual([
      { C: 0.1, penalty: "l2" },
      { C: 0.1, penalty: "none" },
      { C: 1, penalty: "l2" },
      { C: 1, penalty: "none" },
    ]);
    expect(paramGrid({})).toEqual([{}]);
  });

  it("refuses an empty or non-array list of values, and grids beyond 10,000 combinations", () => {
    expect(() => paramGrid({ C: [] })).toThrow(/grid.C must be a non-empty array/);
    expect(() => paramGrid({ C: 1 as unknown as number[] })).toThrow(/grid.C must be a non-empty array/);
    const hundred = Array.from({ length: 100 }, (_, i) => i);
    expect(() => paramGrid({ a: hundred, b: hundred, c: [1, 2] })).toThrow(/more than 10000 combinations/);
  });
});
