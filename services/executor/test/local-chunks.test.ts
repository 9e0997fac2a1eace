import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NotFoundError } from "@kiln/sdk";
import { openFsBlobStore, openS3BlobStore, type BlobStore } from "@kiln/storage";
import { startS3rver, type TestS3Server } from "@kiln/storage/testing";
import { directChunkReader, localChunkReader } from "../src/local-chunks.js";

describe("reading chunks in place from a folder blob store", () => {
  let dir: string;
  let blobs: BlobStore;
  const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251);
  let sha256: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-local-chunks-"));
    blobs = await openFsBlobStore(dir);
    ({ sha256 } = await blobs.put(bytes));
  });
  afterAll(async () => {
    await blobs.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("reads a stored chunk from its file, into the caller's memory when it fits", async () => {
    const read = localChunkReader({ "/a/chunks/": blobs });
    const fresh = await read(`/a/chunks/${sha256}`, bytes.length);
    expect(fresh?.sha256).toBe(sha256);
    expect(Buffer.compare(fresh!.bytes, bytes)).toBe(0);
    const into = new Uint8Array(bytes.length + 10);
    const reused = await read(`/a/chunks/${sha256}`, bytes.length, into);
    expect(reused!.bytes.buffer).toBe(into.buffer);
    expect(Buffer.compare(reused!.bytes, bytes)).toBe(0);
  });

  it("reads through the store's own stream when the store keeps no files (S3), which verifies the bytes", async () => {
    const remoteLike = { get: (id: string) => blobs.get(id) };
    const got = await localChunkReader({ "/a/chunks/": remoteLike })(`/a/chunks/${sha256}`, bytes.length);
    expect(Buffer.compare(got!.bytes, bytes)).toBe(0);
  });

  it("leaves paths of other services to the network", async () => {
    expect(await localChunkReader({ "/a/chunks/": blobs })(`/b/chunks/${sha256}`, bytes.length)).toBeUndefined();
  });

  it("refuses a chunk whose stored length is not the referenced one, and names a missing chunk NotFound", async () => {
    const read = localChunkReader({ "/a/chunks/": blobs });
    await expect(read(`/a/chunks/${sha256}`, bytes.length - 1)).rejects.toThrow(/holds 100000 bytes, not 99999/);
    const { sha256: gone } = await blobs.put(Uint8Array.of(1, 2, 3));
    await unlink(blobs.localPath!(gone));
    const missing = read(`/a/chunks/${gone}`, 3);
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toMatchObject({ reason: "CHUNK_NOT_FOUND" });
  });

  it("directChunkReader reads a chunk in place, and leaves one it cannot read there (missing, another length) to HTTP, saying why", async () => {
    const reads: string[] = [];
    const misses: string[] = [];
    const read = directChunkReader({ "/a/chunks/": blobs }, { onRead: () => reads.push("read"), onMiss: (path, e) => misses.push(`${path}: ${(e as Error).message}`) });
    const found = await read(`/a/chunks/${sha256}`, bytes.length);
    expect(found?.sha256).toBe(sha256);
    expect(Buffer.compare(found!.bytes, bytes)).toBe(0);
    expect(reads).toEqual(["read"]);

    const { sha256: gone } = await blobs.put(Uint8Array.of(9, 8, 7, 6));
    await unlink(blobs.localPath!(gone));
    expect(await read(`/a/chunks/${gone}`, 4)).toBeUndefined();
    expect(await read(`/a/chunks/${sha256}`, bytes.length + 1)).toBeUndefined();
    expect(await read(`/b/chunks/${sha256}`, bytes.length)).toBeUndefined(); // another service's path: not even tried
    expect(misses).toEqual([expect.stringMatching(new RegExp(`^/a/chunks/${gone}: .*gone`)), expect.stringMatching(/holds 100000 bytes, not 100001/)]);
    expect(reads).toEqual(["read"]);
  });
});

describe("directChunkReader on an S3 blob store (s3rver)", () => {
  let s3: TestS3Server;
  let blobs: BlobStore;

  beforeAll(async () => {
    s3 = await startS3rver();
    blobs = await openS3BlobStore(s3.options("store/"));
  });
  afterAll(async () => {
    await blobs?.close();
    await s3?.stop();
  });

  it("reads a chunk from the bucket the store writes to, and leaves a key that is not there to HTTP", async () => {
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251);
    const { sha256 } = await blobs.put(bytes);
    const misses: string[] = [];
    const read = directChunkReader({ "/a/chunks/": blobs }, { onMiss: (path) => misses.push(path) });
    const into = new Uint8Array(bytes.length);
    const found = await read(`/a/chunks/${sha256}`, bytes.length, into);
    expect(found?.bytes.buffer).toBe(into.buffer);
    expect(Buffer.compare(found!.bytes, bytes)).toBe(0);
    const absent = "0".repeat(64);
    expect(await read(`/a/chunks/${absent}`, 10)).toBeUndefined();
    expect(misses).toEqual([`/a/chunks/${absent}`]);
  });
});
