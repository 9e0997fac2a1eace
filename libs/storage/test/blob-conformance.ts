import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import type { BlobStore } from "../src/index.js";

export interface BlobHarness {
  store: BlobStore;
  /** Changes a stored blob's bytes behind the store's back. */
  corrupt(sha256: string, bytes: Uint8Array): Promise<void>;
  cleanup(): Promise<void>;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function readAll(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return Buffer.concat(parts);
}

export function describeBlobStore(name: string, make: () => Promise<BlobHarness>): void {
  describe(`blob store conformance: ${name}`, () => {
    let h: BlobHarness;
    beforeEach(async () => (h = await make()));
    afterEach(async () => h.cleanup());

    it("puts bytes and streams alike, addressed by sha256, and gets them back", async () => {
      const bytes = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) % 256);
      const info = await h.store.put(bytes);
      expect(info).toEqual({ sha256: sha(bytes), size: bytes.length });
      const pieces = (async function* () {
        for (let i = 0; i < bytes.length; i += 4099) yield bytes.subarray(i, i + 4099);
      })();
      expect(await h.store.put(pieces)).toEqual(info); // idempotent
      expect((await readAll(h.store.get(info.sha256))).equals(Buffer.from(bytes))).toBe(true);
      expect(Buffer.from(await h.store.getBytes(info.sha256)).equals(Buffer.from(bytes))).toBe(true);
      expect(await h.store.stat(info.sha256)).toEqual(info);
      expect(await h.store.has(info.sha256)).toBe(true);
    });

    it("stores the empty blob", async () => {
      const info = await h.store.put(new Uint8Array());
      expect(info).toEqual({ sha256: sha(new Uint8Array()), size: 0 });
      expect((await readAll(h.store.get(info.sha256))).length).toBe(0);
    });

    it("missing → NotFound BLOB_NOT_FOUND; invalid id → InvalidArgument", async () => {
      const missing = sha(new TextEncoder().encode("never stored"));
      await expect(readAll(h.store.get(missing))).rejects.toMatchObject({ code: Code.NotFound, reason: "BLOB_NOT_FOUND" });
      await expect(h.store.getBytes(missing)).rejects.toMatchObject({ code: Code.NotFound });
      expect(await h.store.stat(missing)).toBeUndefined();
      await expect(readAll(h.store.get("../etc/passwd"))).rejects.toMatchObject({ code: Code.InvalidArgument });
    });

    it("bytes changed behind its back → DataLoss BLOB_CORRUPT on read", async () => {
      const info = await h.store.put(new TextEncoder().encode("the original bytes"));
      await h.corrupt(info.sha256, new TextEncoder().encode("the tampered bytes"));
      await expect(readAll(h.store.get(info.sha256))).rejects.toMatchObject({ code: Code.DataLoss, reason: "BLOB_CORRUPT" });
      await expect(h.store.getBytes(info.sha256)).rejects.toMatchObject({ code: Code.DataLoss });
      const unchecked = await readAll(h.store.get(info.sha256, { verify: false }));
      expect(unchecked.toString()).toBe("the tampered bytes"); // the caller checks the digest itself
    });

    it("deletes", async () => {
      const info = await h.store.put(new TextEncoder().encode("bye"));
      expect(await h.store.delete(info.sha256)).toBe(true);
      expect(await h.store.delete(info.sha256)).toBe(false);
      expect(await h.store.has(info.sha256)).toBe(false);
    });
  });
}
