import { describe, expect, it } from "vitest";
import { BufferRecycler } from "../src/buffer-recycler.js";

describe("recycling transfer buffers", () => {
  it("gives back only what it lent, once, as a view of the whole buffer", () => {
    const r = new BufferRecycler(4);
    const lent = Buffer.allocUnsafeSlow(1024);
    r.lend(lent);
    r.giveBack(new Uint8Array(64)); // never lent: ignored
    expect(r.take(1)).toBeUndefined();
    r.giveBack(lent.subarray(0, 10)); // a short last chunk in that buffer
    r.giveBack(lent);
    const back = r.take(1)!;
    expect(back.buffer).toBe(lent.buffer);
    expect(back.length).toBe(1024);
    expect(r.take(1)).toBeUndefined(); // once only
  });

  it("never takes a slice of Node's shared pool, whose other bytes belong to others", () => {
    const r = new BufferRecycler(4);
    const small = Buffer.from("a short chunk"); // pooled: its ArrayBuffer holds other buffers too
    expect(small.buffer.byteLength).toBeGreaterThan(small.length);
    r.lend(small);
    r.giveBack(small);
    expect(r.take(1)).toBeUndefined();
  });

  it("keeps at most maxSpare buffers", () => {
    const r = new BufferRecycler(2);
    const all = [1, 2, 3].map(() => Buffer.allocUnsafeSlow(16));
    for (const b of all) r.lend(b);
    for (const b of all) r.giveBack(b);
    expect([r.take(1), r.take(1), r.take(1)].filter(Boolean).length).toBe(2);
  });

  it("hands out a spare only if it holds the bytes asked for, and allocates (and lends) when told how", () => {
    const plain = new BufferRecycler(4);
    const small = Buffer.allocUnsafeSlow(16);
    plain.lend(small);
    plain.giveBack(small);
    expect(plain.take(32)).toBeUndefined(); // too small: kept for a smaller chunk
    expect(plain.take(16)!.buffer).toBe(small.buffer);

    const shared = new BufferRecycler(4, (bytes) => new Uint8Array(new SharedArrayBuffer(bytes)));
    const fresh = shared.take(100)!;
    expect(fresh.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(fresh.length).toBe(100);
    shared.giveBack(fresh.subarray(0, 40)); // lent when allocated, so it comes back
    expect(shared.take(80)!.buffer).toBe(fresh.buffer);
  });
});
