import { describe, expect, it } from "vitest";
import { keysRead, matchesAll, pageOf, parseOrder, parseSearchFilter, sortBy, type Lookup } from "../src/mlflow-search.js";

const run = (values: { metrics?: Record<string, number>; params?: Record<string, string>; tags?: Record<string, string>; attributes?: Record<string, string | number> }): Lookup =>
  (kind, key) => (kind === "metric" ? values.metrics?.[key] : kind === "param" ? values.params?.[key] : kind === "tag" ? values.tags?.[key] : values.attributes?.[key]);

describe("MLflow's search filters", () => {
  it("reads quoted and dotted keys, negative numbers, IN and NOT IN lists, and any case of the keywords", () => {
    expect(parseSearchFilter('metrics."val loss" < -0.5 and params.`model.kind` = "tree" AND tags.team NOT IN (\'a\', "b")', "runs")).toEqual([
      { kind: "metric", key: "val loss", op: "<", value: -0.5 },
      { kind: "param", key: "model.kind", op: "=", value: "tree" },
      { kind: "tag", key: "team", op: "NOT IN", value: ["a", "b"] },
    ]);
    expect(parseSearchFilter("metrics.val.loss >= 1e-3 AND status = 'FINISHED' and attr.start_time > 5 AND created < 9", "runs")).toEqual([
      { kind: "metric", key: "val.loss", op: ">=", value: 0.001 },
      { kind: "attribute", key: "status", op: "=", value: "FINISHED" },
      { kind: "attribute", key: "start_time", op: ">", value: 5 },
      { kind: "attribute", key: "start_time", op: "<", value: 9 },
    ]);
    expect(parseSearchFilter("", "runs")).toEqual([]);
    expect(parseSearchFilter("name ilike '%churn%' and tags.team = 'risk' and creation_time > 0", "experiments")).toHaveLength(3);
  });

  it("refuses what MLflow refuses, naming the trouble", () => {
    const refused = (filter: string, what: "runs" | "experiments" = "runs") => {
      try {
        parseSearchFilter(filter, what);
      } catch (e) {
        return (e as Error).message;
      }
      throw new Error(`accepted ${filter}`);
    };
    expect(refused("metrics.a > 1 OR metrics.b > 1")).toContain("clauses are joined by AND only");
    expect(refused("metrics.a > 'x'")).toContain("a is compared with a number");
    expect(refused("params.a > 1")).toContain("params.a is compared with = != LIKE ILIKE IN NOT IN, not >");
    expect(refused("colour = 'red'")).toContain('"colour" is not an attribute one can search runs by');
    expect(refused("metrics.a = 1", "experiments")).toContain("experiments are searched by name");
    expect(refused("params.a = 'x")).toContain("is not closed");
    expect(refused("weights.a = 1")).toContain('"weights" is not metrics, params, tags or attributes');
  });

  it("matches as MLflow's stores do: LIKE by SQL's patterns, ILIKE ignoring case, a missing key matching nothing", () => {
    const r = run({ metrics: { acc: 0.9 }, params: { model: "RandomForest" }, tags: { team: "risk" }, attributes: { status: "FINISHED", start_time: 10 } });
    const match = (filter: string) => matchesAll(parseSearchFilter(filter, "runs"), r);
    expect(match("metrics.acc > 0.8 AND params.model LIKE 'Random%'")).toBe(true);
    expect(match("params.model LIKE 'random%'")).toBe(false);
    expect(match("params.model ILIKE 'random_orest'")).toBe(true);
    expect(match("params.model LIKE 'Random.*'")).toBe(false); // a regex's characters are plain text
    expect(match("metrics.loss != 1")).toBe(false); // no such metric: no match, also for !=
    expect(match("tags.team IN ('risk', 'ops') AND status != 'FAILED' AND start_time <= 10")).toBe(true);
  });

  it("orders by several keys, missing values and NaN last either way, and pages by opaque tokens", () => {
    const runs = [
      { id: "a", lookup: run({ metrics: { acc: 0.5 }, params: { m: "x" } }) },
      { id: "b", lookup: run({ metrics: { acc: NaN }, params: { m: "y" } }) },
      { id: "c", lookup: run({ metrics: { acc: 0.9 }, params: { m: "x" } }) },
      { id: "d", lookup: run({ params: { m: "y" } }) },
    ];
    const sorted = (order: string[]) => {
      const items = [...runs];
      sortBy(items, parseOrder(order, "runs"), (r) => r.lookup);
      return items.map((r) => r.id);
    };
    expect(sorted(["metrics.acc DESC"])).toEqual(["c", "a", "b", "d"]);
    expect(sorted(["metrics.acc"])).toEqual(["a", "c", "b", "d"]);
    expect(sorted(["params.m desc", "metrics.acc ASC"])).toEqual(["b", "d", "a", "c"]);
    expect(() => parseOrder(["colour DESC"], "runs")).toThrow(/runs are ordered by/);
    // What a search reads of every run: the metrics and params its filter and order name, each once.
    expect(keysRead(parseSearchFilter("metrics.acc > 0.5 AND params.m = 'x' AND tags.t = 'y' AND status = 'FINISHED'", "runs"), parseOrder(["metrics.acc DESC", "params.lr", "start_time"], "runs"), ["metric", "param"])).toEqual(["acc", "m", "lr"]);
    const first = pageOf([1, 2, 3, 4, 5], 2, undefined);
    const second = pageOf([1, 2, 3, 4, 5], 2, first.next);
    const last = pageOf([1, 2, 3, 4, 5], 2, second.next);
    expect([first.items, second.items, last.items, last.next]).toEqual([[1, 2], [3, 4], [5], undefined]);
    expect(() => pageOf([1], 2, "not-a-token")).toThrow(/page_token/);
    expect(() => pageOf([1], 50_001, undefined)).toThrow(/max_results is from 1 to 50000/);
  });
});
