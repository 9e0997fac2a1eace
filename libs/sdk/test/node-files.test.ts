import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openFile } from "../src/node-files.js";

describe("reading a file for upload in recycled chunks", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-sdk-files-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function fileOf(bytes: Uint8Array): Promise<string> {
    const path = join(dir, `f${Math.random().toString(36).slice(2)}`);
    await writeFile(path, bytes);
    return path;
  }

  it("reads chunks into buffers handed back, and the chunks still add up to the file", async () => {
    const bytes = randomBytes(1000 * 4 + 123);
    const file = await openFile(await fileOf(bytes), 1000);
    expect(file.size).toBe(bytes.length);
    const copies: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const chunk of file.chunks) {
      copies.push(Buffer.from(chunk)); // what was read, before the buffer is reused
      memory.add(chunk.buffer);
      file.recycle(chunk);
      file.recycle(chunk); // twice: still handed out once at a time
    }
    expect(copies.map((c) => c.length)).toEqual([1000, 1000, 1000, 1000, 123]);
    expect(Buffer.concat(copies)).toEqual(bytes);
    expect(memory.size).toBe(1); // one buffer served every chunk
  });

  it("never reuses a chunk that was not handed back, nor memory it did not give out", async () => {
    const bytes = randomBytes(3000);
    const file = await openFile(await fileOf(bytes), 1000);
    const kept: Uint8Array[] = [];
    for await (const chunk of file.chunks) {
      kept.push(chunk);
      file.recycle(new Uint8Array(1000)); // not the reader's: ignored
    }
    expect(new Set(kept.map((c) => c.buffer)).size).toBe(3);
    expect(Buffer.concat(kept)).toEqual(bytes);
  });

  it("an empty file has no chunks; a missing one fails before reading", async () => {
    const empty = await openFile(await fileOf(new Uint8Array(0)), 1000);
    const chunks: Uint8Array[] = [];
    for await (const c of empty.chunks) chunks.push(c);
    expect(chunks).toEqual([]);
    await expect(openFile(join(dir, "missing"), 1000)).rejects.toThrow(/ENOENT/);
  });
});
