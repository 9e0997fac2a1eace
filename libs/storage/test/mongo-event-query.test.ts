import { describe, expect, it } from "vitest";
import { parseFilter } from "@kiln/data";
import { checkEventFilter, mongoEventFilter } from "../src/index.js";

const q = (text: string) => mongoEventFilter(checkEventFilter(parseFilter(text)));

describe("tracking filters as MongoDB queries (the SQLite backend's semantics)", () => {
  it("translates comparisons, lists, AND / OR / NOT and dt", () => {
    expect(q('key = "loss" AND step >= 2 OR run IN (1, 3)')).toEqual({
      $or: [{ $and: [{ key: { $eq: "loss" } }, { step: { $gte: 2 } }] }, { run: { $in: [1, 3] } }],
    });
    expect(q('NOT (event NOT IN ("param"))')).toEqual({ $nor: [{ event: { $nin: ["param"] } }] });
    expect(q('dt < "2026-11-25T10:00:00Z"')).toEqual({ dt: { $lt: Date.parse("2026-11-25T10:00:00Z") } });
  });

  it("compares value within its kind: numbers with number events, strings with text and JSON events", () => {
    expect(q("value > 0.5")).toEqual({ vtype: 1, num: { $gt: 0.5 } });
    expect(q('value = "adam"')).toEqual({ vtype: { $in: [2, 3] }, txt: { $eq: "adam" } });
    expect(q('value IN (1, "a")')).toEqual({ $or: [{ vtype: 1, num: { $eq: 1 } }, { vtype: { $in: [2, 3] }, txt: { $eq: "a" } }] });
    expect(q("value NOT IN (1)")).toEqual({ $and: [{ vtype: 1, num: { $ne: 1 } }] });
    expect(q("value IS NULL")).toEqual({ vtype: 0 });
    expect(q("value IS NOT NULL")).toEqual({ vtype: { $ne: 0 } });
  });
});
