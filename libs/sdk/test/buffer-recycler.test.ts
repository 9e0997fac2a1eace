import { describe, expect, it } from "vitest";
import { BufferRecycler } from "../src/buffer-recycler.js";

describe("recycling transfer buffers", () => {
  it("gives back only what it lent, once, as a view of the whole buffer", () => {
    const r = new BufferRecycler(4);
    const lent = Buffer.allocUnsafeSlow(1024);
    r.lend(lent);
    r.giveBack(new Uint8Array(64)); // never lent: ignored
    expect(r.take()).toBeUndefined();
    r.giveBack(lent.subarray(0, 10)); // a short last chunk in that buffer
    r.giveBack(lent);
    const back = r.take()!;
    expect(back.buffer).toBe(lent.buffer);
    expect(back.length).toBe(1024);
    expect(r.take()).toBeUndefined(); // once only
  });

  it("never takes a slice of Node's shared pool, whose other bytes belong to others", () => {
    const r = new BufferRecycler(4);
    const small = Buffer.from("a short chunk"); // pooled: its ArrayBuffer holds other buffers too
    expect(small.buffer.byteLength).toBeGreaterThan(small.length);
    r.lend(small);
    r.giveBack(small);
    expect(r.take()).toBeUndefined();
  });

  it("keeps at most maxSpare buffers", () => {
    const r = new BufferRecycler(2);
    const all = [1, 2, 3].map(() => Buffer.allocUnsafeSlow(16));
    for (const b of all) r.lend(b);
    for (const b of all) r.giveBack(b);
    expect([r.take(), r.take(), r.take()].filter(Boolean).length).toBe(2);
  });
});
