import { describe, expect, it } from "vitest";
import { prefetchInOrder } from "../src/chunk-fetch.js";

async function* count(n: number) {
  for (let i = 0; i < n; i++) yield i;
}

/** Runs prefetchInOrder over loads that finish a turn after they start; returns the results and how many were in flight as each started. */
async function run(depth: number, firstDepth?: number) {
  let inFlight = 0;
  const startedWith: number[] = [];
  const load = async (i: number) => {
    startedWith.push(++inFlight);
    await new Promise((resolve) => setTimeout(resolve, 1));
    inFlight--;
    return i * 10;
  };
  const results: number[] = [];
  for await (const r of prefetchInOrder(count(12), load, depth, firstDepth)) results.push(r);
  return { results, startedWith };
}

describe("prefetchInOrder", () => {
  it("keeps up to depth loads in flight and yields in the source's order", async () => {
    const { results, startedWith } = await run(4);
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i * 10));
    expect(Math.max(...startedWith)).toBe(4);
    expect(startedWith.slice(0, 4)).toEqual([1, 2, 3, 4]);
  });

  it("with a first depth of 1, starts the first load alone and doubles the loads in flight up to depth", async () => {
    const { results, startedWith } = await run(4, 1);
    expect(results).toEqual(Array.from({ length: 12 }, (_, i) => i * 10));
    expect(startedWith[0]).toBe(1);
    expect(startedWith[1]).toBe(1); // the second starts only once the first is done
    expect(Math.max(...startedWith)).toBe(4);
  });
});
