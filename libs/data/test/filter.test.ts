import { describe, expect, it } from "vitest";
import { tableFromArrays, vectorFromArray, Table, Utf8, Float64, Bool, Int64, TimestampMillisecond } from "apache-arrow";
import { compileFilter, FilterSyntaxError, matchesFilter, parseFilter, selectRows, tableToRows } from "../src/index.js";

const people = new Table({
  name: vectorFromArray(["ana", "bo", "cy", "de", "ed", null], new Utf8()),
  age: vectorFromArray([34, 25, 51, null, 40, 30], new Float64()),
  country: vectorFromArray(["DE", "FR", "US", "FR", null, "DE"], new Utf8()),
  vip: vectorFromArray([false, true, false, false, null, true], new Bool()),
  joined: vectorFromArray([Date.UTC(2020, 0, 1), Date.UTC(2021, 5, 1), Date.UTC(2019, 0, 1), null, Date.UTC(2022, 0, 1), Date.UTC(2023, 0, 1)], new TimestampMillisecond()),
});

function names(filter: string): (string | null)[] {
  const batch = people.batches[0];
  const keep = compileFilter(parseFilter(filter), people.schema)(batch);
  return tableToRows(new Table(selectRows(batch, keep))).map((r) => r.name as string | null);
}

describe("filter language", () => {
  it("AND binds tighter than OR", () => {
    expect(names('age > 30 AND country IN ("DE","FR") OR vip = true')).toEqual(["ana", "bo", null]);
    expect(names('age > 30 AND (country IN ("DE","FR") OR vip = true)')).toEqual(["ana"]);
  });

  it("has every comparison, IN, NOT IN, IS NULL, NOT, and both quote styles", () => {
    expect(names("age >= 40")).toEqual(["cy", "ed"]);
    expect(names("age < 30")).toEqual(["bo"]);
    expect(names("age <= 30")).toEqual(["bo", null]);
    expect(names("age != 34")).toEqual(["bo", "cy", "ed", null]);
    expect(names("age <> 34")).toEqual(["bo", "cy", "ed", null]);
    expect(names("country = 'FR'")).toEqual(["bo", "de"]);
    expect(names('country NOT IN ("FR", "US")')).toEqual(["ana", null]);
    expect(names("age IS NULL")).toEqual(["de"]);
    expect(names("country IS NOT NULL AND vip IS NULL")).toEqual([]);
    expect(names("NOT vip = true")).toEqual(["ana", "cy", "de"]);
    expect(names("`name` = \"cy\"")).toEqual(["cy"]);
    expect(names("joined >= '2021-01-01' AND joined < '2023-01-01'")).toEqual(["bo", "ed"]);
    expect(names("age > 1e1 and age < 2.6E1")).toEqual(["bo"]);
  });

  it("treats null as SQL does: comparisons with null are never true", () => {
    expect(names("age > 0 OR age <= 0")).toEqual(["ana", "bo", "cy", "ed", null]);
    expect(names("NOT (age > 0)")).toEqual([]);
    expect(names("country IN ('XX', NULL)")).toEqual([]);
  });

  it.each([
    ["age >", 5, "expected a value"],
    ["age > AND x = 1", 6, "expected a value"],
    ["(age > 1", 8, 'expected ")"'],
    ["age = 1 country = 'x'", 8, "expected AND, OR"],
    ["age ~ 1", 4, "unexpected character"],
    ["name = 'open", 7, "unterminated string"],
    ["", 0, "empty"],
    ["age IN 1", 7, "expected \"(\""],
  ])("%j fails at position %i", (text, position, message) => {
    const err = (() => {
      try {
        parseFilter(text);
      } catch (e) {
        return e as FilterSyntaxError;
      }
    })();
    expect(err).toBeInstanceOf(FilterSyntaxError);
    expect(err!.position).toBe(position);
    expect(err!.message).toContain(message);
    expect(err!.message).toContain(`position ${position}`);
  });

  it("checks columns and literal types against the schema", () => {
    expect(() => compileFilter(parseFilter("height > 3"), people.schema)).toThrow(/unknown column "height"/);
    expect(() => compileFilter(parseFilter("age = 'old'"), people.schema)).toThrow(/column "age" holds number values, not a string/);
    expect(() => compileFilter(parseFilter("name > 3"), people.schema)).toThrow(/not a number/);
    expect(() => compileFilter(parseFilter("vip > true"), people.schema)).toThrow(/compares only with = or !=/);
    expect(() => compileFilter(parseFilter("joined > 'not a date'"), people.schema)).toThrow(FilterSyntaxError);
  });

  it("filters a million rows to exactly the rows a plain loop keeps", () => {
    const n = 1_000_000;
    const t = tableFromArrays({ x: Float64Array.from({ length: n }, (_, i) => i % 1000), k: Int32Array.from({ length: n }, (_, i) => i % 7) });
    const filter = compileFilter(parseFilter("x >= 500 AND k IN (1, 2)"), t.schema);
    let expected = 0;
    for (let i = 0; i < n; i++) if (i % 1000 >= 500 && (i % 7 === 1 || i % 7 === 2)) expected++;
    let kept = 0;
    for (const b of t.batches) kept += filter(b).length;
    expect(kept).toBe(expected);
  });

  it("matches plain objects with the same language", () => {
    const f = parseFilter('labels.team = "risk" AND kind != "file" OR latest_version > 3');
    const get = (o: Record<string, unknown>) => (c: string) => o[c];
    expect(matchesFilter(f, get({ "labels.team": "risk", kind: "table", latest_version: 1 }))).toBe(true);
    expect(matchesFilter(f, get({ "labels.team": "ops", kind: "table", latest_version: 4 }))).toBe(true);
    expect(matchesFilter(f, get({ kind: "table", latest_version: 1 }))).toBe(false);
  });
});

describe("filters on Int64 past 2^53", () => {
  it("compare a whole number written out exactly, = and IN and ranges, where a double would round", () => {
    const table = new Table({ id: vectorFromArray([9007199254740993n, 9007199254740992n, 12n], new Int64()) });
    const batch = table.batches[0]!;
    const ids = (filter: string) => [...selectRows(batch, compileFilter(parseFilter(filter), table.schema)(batch)).getChild("id")!];
    expect(ids("id = 9007199254740993")).toEqual([9007199254740993n]);
    expect(ids("id IN (9007199254740992, 12)")).toEqual([9007199254740992n, 12n]);
    expect(ids("id > 9007199254740992")).toEqual([9007199254740993n]);
    expect(ids("id < 1e3")).toEqual([12n]); // not a whole number written out: compared as a double
  });
});
