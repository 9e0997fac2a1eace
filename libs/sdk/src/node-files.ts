import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { pipeline } from "node:stream/promises";
import { Code } from "@connectrpc/connect";
import { DataLossError } from "./errors.js";

// Node only (package.json maps this file away for browsers): models from and to disk.

/**
 * A file's size and its bytes as a stream of `pieceBytes` pieces, never read whole. Reading
 * pieces of the size the caller sends saves joining smaller ones, which cost more than
 * the read (a fresh buffer's pages fault in, then get copied into).
 */
export async function openFile(path: string, pieceBytes: number): Promise<{ size: number; chunks: AsyncIterable<Uint8Array> }> {
  const { size } = await stat(path); // a missing file fails here, before any call
  return { size, chunks: createReadStream(path, { highWaterMark: pieceBytes }) };
}

/**
 * Streams chunks into a file (making its folder) and checks the whole file's sha256; a
 * mismatch, or a transfer that fails, leaves no file behind. With `allVerified` (chunks
 * fetched by reference, each already checked against its own sha256) the file is not
 * hashed again unless some chunk came inline; then it is read back and hashed.
 */
export async function writeVerified(path: string, chunks: AsyncIterable<Uint8Array>, sha256: string, allVerified?: () => boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const hash = allVerified ? undefined : createHash("sha256");
  const hashed = async function* () {
    for await (const chunk of chunks) {
      hash?.update(chunk);
      yield chunk;
    }
  };
  try {
    await pipeline(hashed, createWriteStream(path));
  } catch (e) {
    await rm(path, { force: true });
    throw e;
  }
  if (!sha256 || allVerified?.()) return;
  const actual = hash ? hash.digest("hex") : await fileDigest(path);
  if (actual !== sha256) {
    await rm(path, { force: true });
    throw new DataLossError(`${path} arrived with sha256 ${actual}, expected ${sha256}`, Code.DataLoss, "SHA256_MISMATCH", { path, expected: sha256, actual });
  }
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of createReadStream(path)) hash.update(piece as Buffer);
  return hash.digest("hex");
}

/** `dir/name`, refusing names (from the server) that would land outside `dir`. */
export function pathInside(dir: string, name: string): string {
  const root = resolve(dir);
  const path = resolve(root, name);
  if (!path.startsWith(root + sep)) throw new Error(`refusing to write "${name}" outside ${root}`);
  return path;
}
