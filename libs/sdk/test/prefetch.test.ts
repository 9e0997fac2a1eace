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

  it("yields a finished load while the source is still waiting for its next item", async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    async function* slowSource() {
      yield 1;
      await gate; // the next input has not arrived yet
      yield 2;
    }
    const results = prefetchInOrder(slowSource(), async (i) => i * 10, 4);
    const first = await Promise.race([results.next(), new Promise((resolve) => setTimeout(() => resolve("stalled"), 200))]);
    expect(first).toEqual({ value: 10, done: false });
    open();
    expect(await results.next()).toEqual({ value: 20, done: false });
    expect((await results.next()).done).toBe(true);
  });

  it("closes the source when the caller stops early, and passes on the source's and a load's errors", async () => {
    let closed = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const r of prefetchInOrder(endless(), async (i) => i, 3)) if (r === 5) break;
    expect(closed).toBe(true);

    async function* failing() {
      yield 1;
      throw new Error("source broke");
    }
    await expect(collect(prefetchInOrder(failing(), async (i) => i, 2))).rejects.toThrow("source broke");
    await expect(collect(prefetchInOrder(count(5), async (i) => (i === 3 ? Promise.reject(new Error("load 3 failed")) : i), 2))).rejects.toThrow("load 3 failed");
  });
});

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}
