import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MemoryStream } from "../src/memory-stream.js";
import { PayloadSpill, readPayload, spillDirFor } from "../src/payload-spill.js";

const filled = (n: number, byte: number) => new Uint8Array(n).fill(byte);

describe("the in-process bus's payloads on disk", () => {
  let root: string;
  let dir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "kiln-spill-"));
    dir = join(root, "spill");
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  const files = () => readdirSync(dir).sort();

  it("keeps small payloads in memory and large ones in segment files (in memory until written), each read back as a fresh copy", async () => {
    const spill = new PayloadSpill({ dir, atBytes: 1024 });
    const small = spill.store(filled(10, 1));
    const large = spill.store(filled(5000, 2));
    expect(readPayload(large)).toEqual(filled(5000, 2)); // from memory: its write may be under way
    await spill.flushed();
    expect(small.bytes).toBeDefined();
    expect(large.bytes).toBeUndefined();
    expect(files()).toEqual(["segment-1"]);
    const read = readPayload(large);
    expect(read).toEqual(filled(5000, 2));
    read[0] = 9;
    expect(readPayload(large)[0]).toBe(2);
    expect(readPayload(small)).toEqual(filled(10, 1));
    spill.close();
    expect(existsSync(dir)).toBe(false);
  });

  it("starts a new segment when one is full and deletes a segment once every payload in it is released and written", async () => {
    const spill = new PayloadSpill({ dir, atBytes: 0, segmentBytes: 10_000 });
    const a = spill.store(filled(6000, 1));
    const b = spill.store(filled(6000, 2)); // does not fit beside a
    const c = spill.store(filled(3000, 3));
    expect(files()).toEqual(["segment-1", "segment-2"]);
    spill.release(a); // its write may be under way: the segment goes once it is done
    await spill.flushed();
    expect(files()).toEqual(["segment-2"]);
    expect([b.bytes, c.bytes]).toEqual([undefined, undefined]);
    expect([readPayload(b)[0], readPayload(c)[2999]]).toEqual([2, 3]);
    spill.release(b);
    spill.release(c);
    expect(files()).toEqual(["segment-2"]); // the current one is written on until it is full
    spill.store(filled(9000, 4));
    expect(files()).toEqual(["segment-3"]);
    spill.close();
  });

  it("closes with writes under way without losing track of them", async () => {
    const spill = new PayloadSpill({ dir, atBytes: 0 });
    for (let i = 0; i < 20; i++) spill.store(filled(100_000, i));
    spill.close();
    await spill.flushed();
    expect(existsSync(dir)).toBe(false);
  });

  it("empties its folder at start (what a killed process left)", () => {
    mkdirSync(dir, { recursive: true });
    const first = new PayloadSpill({ dir, atBytes: 0 });
    first.store(filled(100, 1));
    const second = new PayloadSpill({ dir, atBytes: 0 });
    expect(files()).toEqual([]);
    second.close();
  });

  it("gives each process a folder of its own, and removes those of processes no longer running", () => {
    const busRoot = join(root, "bus");
    mkdirSync(join(busRoot, "999999999"), { recursive: true }); // no such process
    mkdirSync(join(busRoot, String(process.ppid)), { recursive: true }); // running
    expect(spillDirFor(busRoot)).toBe(join(busRoot, String(process.pid)));
    expect(readdirSync(busRoot).sort()).toEqual([String(process.ppid)]);
  });

  it("a stream's messages expired by age release their segment", async () => {
    vi.useFakeTimers({ now: new Date("2026-12-04T12:00:00Z") });
    try {
      const spill = new PayloadSpill({ dir, atBytes: 1024, segmentBytes: 100_000 });
      const stream = new MemoryStream({ name: "R", subjects: ["r.>"], maxAgeMs: 60_000 }, spill);
      const first = stream.append("r.1", filled(80_000, 7), {})!;
      expect(stream.dataOf(first)).toEqual(filled(80_000, 7));
      vi.advanceTimersByTime(30_000);
      stream.append("r.2", filled(80_000, 8), {}); // a second segment
      await spill.flushed();
      expect(files()).toEqual(["segment-1", "segment-2"]);
      vi.advanceTimersByTime(40_000);
      expect(stream.get(first.seq)).toBeUndefined();
      expect(files()).toEqual(["segment-2"]);
      spill.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
