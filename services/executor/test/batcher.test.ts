import { describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { JobErrorSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { Batcher } from "../src/batcher.js";

describe("Batcher", () => {
  it("sends a lone call at once, and the calls made while a batch is in flight together in the next", async () => {
    const sent: number[][] = [];
    let release: () => void = () => {};
    const batcher = new Batcher<number, string>(async (reqs) => {
      sent.push(reqs);
      if (sent.length === 1) await new Promise<void>((r) => (release = r));
      return reqs.map((n) => ({ response: `r${n}` }));
    });
    const first = batcher.call(1);
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([[1]]);
    const more = [2, 3, 4].map((n) => batcher.call(n));
    await new Promise((r) => setTimeout(r, 10));
    expect(sent).toHaveLength(1); // waiting for the first batch's answer
    release();
    expect(await first).toBe("r1");
    expect(await Promise.all(more)).toEqual(["r2", "r3", "r4"]);
    expect(sent).toEqual([[1], [2, 3, 4]]);
  });

  it("fails only the item an error answers, and every item when the whole call fails", async () => {
    const items = new Batcher<number, number>(async (reqs) =>
      reqs.map((n) => (n < 0 ? { error: create(JobErrorSchema, { code: "NOT_FOUND", reason: "JOB_NOT_FOUND", message: `no job ${n}` }) } : { response: n * 2 })),
    );
    const [ok, bad] = await Promise.allSettled([items.call(2), items.call(-1)]);
    expect(ok).toEqual({ status: "fulfilled", value: 4 });
    expect((bad as PromiseRejectedResult).reason).toMatchObject({ code: Code.NotFound, reason: "JOB_NOT_FOUND", message: "no job -1" });

    const down = new Batcher<number, number>(async () => {
      throw new Error("unreachable");
    });
    const results = await Promise.allSettled([down.call(1), down.call(2)]);
    expect(results.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    // It keeps working after a failed call.
    expect(await items.call(5)).toBe(10);
  });

  it("splits more than its limit into several calls", async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(async (reqs) => {
      sizes.push(reqs.length);
      return reqs.map((n) => ({ response: n }));
    }, 3);
    expect(await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => batcher.call(n)))).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(sizes).toEqual([3, 3, 1]);
  });
});
