import { createHash } from "node:crypto";
import { mkdtemp, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openFsBlobStore, withRecentPuts, type BlobStore } from "../src/index.js";

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
  /** Deleting a blob's file behind the wrapper's back shows whether a read came from memory. */
  const removeFile = (sha256: string) => unlink(join(dir, sha256.slice(0, 2), sha256.slice(2, 4), sha256));

  it("serves a fresh put once from memory, then from the store", async () => {
    const blobs = withRecentPuts(inner);
    const data = bytes(1000, 7);
    const { sha256 } = await blobs.put(pieces(data.subarray(0, 300), data.subarray(300)));
    expect(await inner.has(sha256)).toBe(true); // stored all the same
    expect(await readAll(blobs.get(sha256))).toEqual(Buffer.from(data));
    await expect(readAll(blobs.get(sha256))).resolves.toEqual(Buffer.from(data)); // second read: the store
    await removeFile(sha256);
    await expect(blobs.getBytes(sha256)).rejects.toThrow(/not found/);
  });

  it("keeps at most maxBytes, dropping the oldest", async () => {
    const blobs = withRecentPuts(inner, { maxBytes: 2500 });
    const shas: string[] = [];
    for (let i = 0; i < 3; i++) shas.push((await blobs.put(bytes(1000, i))).sha256);
    for (const s of shas) await removeFile(s);
    await expect(blobs.getBytes(shas[0]!)).rejects.toThrow(/not found/); // dropped for the third
    expect(sha(await blobs.getBytes(shas[1]!))).toBe(shas[1]);
    expect(sha(await blobs.getBytes(shas[2]!))).toBe(shas[2]);
  });

  it("drops what is older than maxAgeMs, and never keeps a blob over maxBytes", async () => {
    let now = 0;
    const blobs = withRecentPuts(inner, { maxBytes: 1500, maxAgeMs: 1000, now: () => now });
    const old = (await blobs.put(bytes(100, 1))).sha256;
    now = 5000;
    const fresh = (await blobs.put(bytes(100, 2))).sha256;
    const big = (await blobs.put(bytes(2000, 3))).sha256;
    for (const s of [old, fresh, big]) await removeFile(s);
    await expect(blobs.getBytes(old)).rejects.toThrow(/not found/);
    await expect(blobs.getBytes(big)).rejects.toThrow(/not found/);
    expect(sha(await blobs.getBytes(fresh))).toBe(fresh);
  });

  it("forgets a deleted blob", async () => {
    const blobs = withRecentPuts(inner);
    const { sha256 } = await blobs.put(bytes(10, 9));
    expect(await blobs.delete(sha256)).toBe(true);
    await expect(blobs.getBytes(sha256)).rejects.toThrow(/not found/);
    expect(await blobs.has(sha256)).toBe(false);
  });
});
