import { describe, expect, it } from "vitest";
import { BufferPool } from "../src/buffer-pool.js";

describe("BufferPool", () => {
  it("hands back the smallest kept buffer that fits, and allocates when none does", () => {
    const allocated: number[] = [];
    const pool = new BufferPool((bytes) => (allocated.push(bytes), new ArrayBuffer(bytes)), 4);
    const [big, small] = [pool.take(1000), pool.take(100)];
    expect(allocated).toEqual([1000, 100]);
    pool.give(big);
    pool.give(small);
    expect(pool.take(50)).toBe(small);
    expect(pool.take(50)).toBe(big);
    expect(pool.take(50).byteLength).toBe(50); // both out: a new one
    pool.give(big);
    expect(pool.take(2000).byteLength).toBe(2000); // too small to serve: kept, not handed out
    expect(pool.take(1000)).toBe(big);
  });

  it("keeps no more buffers or bytes than allowed, never the same buffer twice, and no detached one", () => {
    const pool = new BufferPool((bytes) => new ArrayBuffer(bytes), 2, 1500);
    const [a, b, c] = [pool.take(1000), pool.take(400), pool.take(100)];
    pool.give(a);
    pool.give(a);
    pool.give(b);
    pool.give(c); // a third buffer: over the count
    expect([pool.take(1), pool.take(1)]).toEqual([b, a]);
    expect(pool.take(1)).not.toBe(c);

    const bytesCapped = new BufferPool((bytes) => new ArrayBuffer(bytes), 10, 1500);
    const [d, e] = [bytesCapped.take(1000), bytesCapped.take(600)];
    bytesCapped.give(d);
    bytesCapped.give(e); // 1,600 bytes: over the cap
    expect(bytesCapped.take(600)).toBe(d);
    expect(bytesCapped.take(600)).not.toBe(e);

    const detached = new ArrayBuffer(64);
    structuredClone(detached, { transfer: [detached] });
    bytesCapped.give(detached);
    expect(bytesCapped.take(0)).not.toBe(detached);
  });
});
