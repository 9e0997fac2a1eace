import { tableFromArrays, type Table } from "apache-arrow";
import { describe, expect, it } from "vitest";
import { OnlineBatching } from "../src/online-batching.js";

const rows = (...values: number[]) => tableFromArrays({ x: Float64Array.from(values) });
const valuesOf = (t: Table) => Array.from(t.getChild("x")!.toArray() as Float64Array);

/** A model that doubles x, taking `ms` a run, and records each run's requests. */
function slowDoubler(ms: number) {
  const runs: { key: string; sizes: number[] }[] = [];
  const run = async (key: string, tables: Table[]) => {
    runs.push({ key, sizes: tables.map((t) => t.numRows) });
    await new Promise((r) => setTimeout(r, ms));
    if (tables.some((t) => valuesOf(t).includes(-1))) throw new Error("bad row");
    return tables.map((t) => rows(...valuesOf(t).map((v) => v * 2)));
  };
  return { runs, run };
}

describe("online batching", () => {
  it("runs a request at once when a slot is free, and batches those that come while the slots are busy", async () => {
    const model = slowDoubler(40);
    const batching = new OnlineBatching(model.run, { maxRows: 100, maxDelayMs: 0, concurrency: 1 });
    const first = batching.submit("k", rows(1));
    const rest = [2, 3, 4, 5].map((v) => batching.submit("k", rows(v, v)));
    expect(valuesOf(await first)).toEqual([2]);
    const outs = await Promise.all(rest);
    expect(outs.map(valuesOf)).toEqual([[4, 4], [6, 6], [8, 8], [10, 10]]);
    expect(model.runs.map((r) => r.sizes)).toEqual([[1], [2, 2, 2, 2]]);
  });

  it("keeps a batch within maxRows, lets a bigger request run alone, and never mixes keys", async () => {
    const model = slowDoubler(20);
    const batching = new OnlineBatching(model.run, { maxRows: 4, maxDelayMs: 0, concurrency: 1 });
    const busy = batching.submit("a", rows(0));
    const waiting = [
      batching.submit("a", rows(1, 1, 1)),
      batching.submit("b", rows(2)),
      batching.submit("a", rows(3)),
      batching.submit("a", rows(4)),
      batching.submit("a", rows(5, 5, 5, 5, 5, 5)),
    ];
    await busy;
    const outs = await Promise.all(waiting);
    expect(outs.map(valuesOf)).toEqual([[2, 2, 2], [4], [6], [8], [10, 10, 10, 10, 10, 10]]);
    expect(model.runs).toEqual([
      { key: "a", sizes: [1] },
      { key: "a", sizes: [3, 1] },
      { key: "b", sizes: [1] },
      { key: "a", sizes: [1] },
      { key: "a", sizes: [6] },
    ]);
  });

  it("runs several batches at once up to its concurrency", async () => {
    const model = slowDoubler(50);
    const batching = new OnlineBatching(model.run, { maxRows: 100, maxDelayMs: 0, concurrency: 3 });
    const started = Date.now();
    await Promise.all([1, 2, 3].map((v) => batching.submit("k", rows(v))));
    expect(Date.now() - started).toBeLessThan(140);
    expect(model.runs.map((r) => r.sizes)).toEqual([[1], [1], [1]]);
  });

  it("with a delay, waits for others before the first run, and goes at once when maxRows are waiting", async () => {
    const model = slowDoubler(1);
    const batching = new OnlineBatching(model.run, { maxRows: 3, maxDelayMs: 60, concurrency: 2 });
    const started = Date.now();
    const two = [batching.submit("k", rows(1)), batching.submit("k", rows(2))];
    await Promise.all(two);
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(model.runs.map((r) => r.sizes)).toEqual([[1, 1]]);
    const quick = Date.now();
    await Promise.all([1, 2, 3].map((v) => batching.submit("k", rows(v))));
    expect(Date.now() - quick).toBeLessThan(50);
    expect(model.runs.at(-1)!.sizes).toEqual([1, 1, 1]);
  });

  it("fails only the request whose rows the model refuses, running its batch again one by one", async () => {
    const model = slowDoubler(10);
    const batching = new OnlineBatching(model.run, { maxRows: 100, maxDelayMs: 0, concurrency: 1 });
    const busy = batching.submit("k", rows(0));
    const good = batching.submit("k", rows(1));
    const bad = batching.submit("k", rows(-1));
    const alsoGood = batching.submit("k", rows(3));
    await busy;
    expect(valuesOf(await good)).toEqual([2]);
    await expect(bad).rejects.toThrow("bad row");
    expect(valuesOf(await alsoGood)).toEqual([6]);
    expect(batching.waiting).toBe(0);
  });
});
