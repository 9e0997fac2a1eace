import { createHash, randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, unlink } from "node:fs/promises";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { dataLoss, invalidArgument, notFound } from "@kiln/core";
import type { BlobInfo, BlobStore } from "./blob.js";

const SHA256 = /^[0-9a-f]{64}$/;

/** fsync of a file or a folder (the latter makes a rename in it durable). */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function checkBlobId(sha256: string): string {
  if (!SHA256.test(sha256)) throw invalidArgument("INVALID_BLOB_ID", `"${sha256.slice(0, 80)}" is not a sha256 hex digest`);
  return sha256;
}

/**
 * Blobs as files named by their sha256 (dir/ab/cd/<sha256>). A put streams into a temp
 * file while hashing, syncs it to disk, then renames it into place and syncs the folder:
 * a blob is either whole or absent, and one a put has returned survives a power cut
 * (metadata that names it is synced by SQLite or MongoDB after the put returns).
 */
export function openFsBlobStore(dir: string): BlobStore {
  const tmp = join(dir, "tmp");
  const pathOf = (sha: string) => join(dir, sha.slice(0, 2), sha.slice(2, 4), sha);

  return {
    async put(data) {
      await mkdir(tmp, { recursive: true });
      const temp = join(tmp, randomUUID());
      const hash = createHash("sha256");
      let size = 0;
      const out = createWriteStream(temp, { highWaterMark: 1024 * 1024 });
      try {
        for await (const piece of data instanceof Uint8Array ? [data] : data) {
          hash.update(piece);
          size += piece.length;
          if (!out.write(piece)) await once(out, "drain");
        }
        out.end();
        await once(out, "finish");
        await syncPath(temp);
        const sha256 = hash.digest("hex");
        const final = pathOf(sha256);
        await mkdir(dirname(final), { recursive: true });
        await rename(temp, final);
        await syncPath(dirname(final));
        return { sha256, size };
      } catch (e) {
        out.destroy();
        await rm(temp, { force: true });
        throw e;
      }
    },

    async *get(sha256, options) {
      const path = pathOf(checkBlobId(sha256));
      const hash = createHash("sha256");
      const input = createReadStream(path, { highWaterMark: 1024 * 1024 });
      try {
        for await (const piece of input) {
          if (options?.verify !== false) hash.update(piece as Buffer);
          yield piece as Buffer;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw notFound("BLOB_NOT_FOUND", `blob ${sha256} not found`);
        throw e;
      }
      if (options?.verify !== false && hash.digest("hex") !== sha256) throw dataLoss("BLOB_CORRUPT", `blob ${sha256} does not match its digest`);
    },

    async getBytes(sha256) {
      let bytes: Buffer;
      try {
        bytes = await readFile(pathOf(checkBlobId(sha256)));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") throw notFound("BLOB_NOT_FOUND", `blob ${sha256} not found`);
        throw e;
      }
      if (createHash("sha256").update(bytes).digest("hex") !== sha256) {
        throw dataLoss("BLOB_CORRUPT", `blob ${sha256} does not match its digest`);
      }
      return bytes;
    },

    localPath(sha256) {
      return pathOf(checkBlobId(sha256));
    },

    async stat(sha256): Promise<BlobInfo | undefined> {
      try {
        return { sha256, size: (await stat(pathOf(checkBlobId(sha256)))).size };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw e;
      }
    },

    async has(sha256) {
      return (await this.stat(sha256)) !== undefined;
    },

    async delete(sha256) {
      try {
        await unlink(pathOf(checkBlobId(sha256)));
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOENT") return false;
        throw e;
      }
    },

    async close() {},
  };
}
