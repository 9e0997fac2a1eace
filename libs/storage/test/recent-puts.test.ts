import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openFsBlobStore, withRecentPuts, type BlobStore, type RecentPuts } from "../src/index.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
async function* pieces(...parts: Uint8Array[]) {
  yield* parts;
}
async function readAll(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

describe("a blob store that keeps its recent puts in memory", () => {
  let dir: string;
  let inner: BlobStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-recent-puts-"));
    inner = openFsBlobStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  /** What readRecent lends, copied out (its memory is reused afterwards); undefined if not held. */
  const lent = (blobs: RecentPuts, sha256: string) => {
    const parts: Buffer[] = [];
    return blobs.readRecent(sha256, (p) => parts.push(Buffer.from(p))) ? Buffer.concat(parts) : undefined;
  };

  it("lends a fresh put's bytes once from memory; other reads go to the store", async () => {
    const blobs = withRecentPuts(inner);
    const data = Uint8Array.from({ length: 3_000_000 }, (_, i) => i % 251); // three slabs
    const { sha256 } = await blobs.put(pieces(data.subarray(0, 300), data.subarray(300, 1_500_000), data.subarray(1_500_000)));
    expect(await inner.has(sha256)).toBe(true); // stored all the same
    expect(sha(await readAll(blobs.get(sha256)))).toBe(sha256); // from the store; still held
    expect(sha(lent(blobs, sha256)!)).toBe(sha256);
    expect(lent(blobs, sha256)).toBeUndefined(); // forgotten once read
  });

  it("reuses the memory of blobs read or dropped for later puts, with each one's own bytes", async () => {
    const blobs = withRecentPuts(inner, { maxBytes: 2_500_000 });
    const a = bytes(2_000_000, 1);
    const b = bytes(2_000_000, 2);
    const c = bytes(1_000_000, 3);
    const shaA = (await blobs.put(a)).sha256;
    const memory: ArrayBufferLike[] = [];
    blobs.readRecent(shaA, (p) => memory.push(p.buffer));
    const shaB = (await blobs.put(pieces(b.subarray(0, 10), b.subarray(10)))).sha256;
    const reused: ArrayBufferLike[] = [];
    const readB: Buffer[] = [];
    expect(blobs.readRecent(shaB, (p) => (reused.push(p.buffer), readB.push(Buffer.from(p))))).toBe(true);
    expect(sha(Buffer.concat(readB))).toBe(shaB);
    expect(reused.length).toBe(2);
    expect(reused.every((m) => memory.includes(m))).toBe(true); // the same slabs, now holding b
    const shaC = (await blobs.put(c)).sha256;
    const shaD = (await blobs.put(b.subarray(0, 1_600_000))).sha256; // drops c: over maxBytes together
    expect(lent(blobs, shaC)).toBeUndefined();
    expect(sha(lent(blobs, shaD)!)).toBe(shaD);
  });

  it("drops what is older than maxAgeMs, and never keeps a blob over maxBytes", async () => {
    let now = 0;
    const blobs = withRecentPuts(inner, { maxBytes: 1500, maxAgeMs: 1000, now: () => now });
    const old = (await blobs.put(bytes(100, 1))).sha256;
    now = 5000;
    const fresh = (await blobs.put(bytes(100, 2))).sha256;
    const big = (await blobs.put(pieces(bytes(1000, 3), bytes(1000, 3)))).sha256;
    expect(await inner.has(big)).toBe(true);
    expect(lent(blobs, old)).toBeUndefined();
    expect(lent(blobs, big)).toBeUndefined();
    expect(lent(blobs, fresh)).toEqual(Buffer.from(bytes(100, 2)));
  });

  it("forgets a deleted blob; a failed put keeps nothing", async () => {
    const blobs = withRecentPuts(inner);
    const { sha256 } = await blobs.put(bytes(10, 9));
    expect(await blobs.delete(sha256)).toBe(true);
    expect(lent(blobs, sha256)).toBeUndefined();
    expect(await blobs.has(sha256)).toBe(false);
    async function* failing() {
      yield bytes(10, 1);
      throw new Error("cut off");
    }
    await expect(blobs.put(failing())).rejects.toThrow(/cut off/);
    expect(lent(blobs, sha(bytes(10, 1)))).toBeUndefined();
  });
});
