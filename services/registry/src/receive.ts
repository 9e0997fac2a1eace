import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { once } from "node:events";
import { join } from "node:path";
import { invalidArgument, resourceExhausted, untilCommit } from "@kiln/core";
import { checkUploadedChunk } from "@kiln/storage";
import type { FilePiece } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { RegistryDeps } from "./deps.js";
import { registryGarbage } from "./garbage.js";
import type { BlobChunk, StoredFile } from "./records.js";

/** Stored chunks stay well under the RPC message limit, so downloads can send them whole. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
const SPOOL_BUFFER_BYTES = 8 * 1024 * 1024;

export interface ReceivedFile {
  file: StoredFile;
  /**
   * When asked for (format checks): the file as local files to read one after another,
   * its stored chunks in place when the blob store keeps files, else one spooled copy.
   */
  localParts?: string[];
  /** Removes the spooled copy, if one was made. */
  removeSpool(): Promise<void>;
  /** Forgets the stored chunks (they become garbage) when the file is not kept. */
  discard(): Promise<void>;
}

/** A piece of an upload: bytes in the stream, or a chunk the client PUT beforehand. */
export type IncomingPiece = { bytes: Uint8Array } | { reference: { sha256: string; size: bigint } };

/** Upload streams (model versions, attachments): a header, then inline chunks or references. */
export type UploadMessage<H> = {
  message:
    | { case: "header"; value: H }
    | { case: "chunk"; value: Uint8Array }
    | { case: "reference"; value: { sha256: string; size: bigint } }
    | { case: "commit"; value: { pieces: bigint } }
    | { case: undefined; value?: undefined };
};

/**
 * Reads an upload's header (InvalidArgument if the stream does not start with one); the
 * rest are its pieces, up to the commit the header may ask for (see untilCommit).
 */
export async function splitUpload<H extends { endsWithCommit: boolean }>(requests: AsyncIterable<UploadMessage<H>>, what: string): Promise<{ header: H; pieces: AsyncGenerator<IncomingPiece> }> {
  const it = requests[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done || first.value.message.case !== "header") throw invalidArgument("HEADER_REQUIRED", `the first message of ${what} must be its header`);
  const header = first.value.message.value;
  return { header, pieces: uploadPieces(untilCommit(it, header.endsWithCommit, what)) };
}

/** A one-message upload (PutModelVersion, PutAttachment) as the stream its streaming form reads: the header, then the pieces. */
export async function* asUpload<H>(header: H | undefined, pieces: readonly FilePiece[], what: string): AsyncGenerator<UploadMessage<H>> {
  if (!header) throw invalidArgument("HEADER_REQUIRED", `${what} needs its header`);
  yield { message: { case: "header", value: header } };
  for (const { piece } of pieces) {
    if (piece.case === "chunk") yield { message: { case: "chunk", value: piece.value } };
    else if (piece.case === "reference") yield { message: { case: "reference", value: piece.value } };
    else throw invalidArgument("CHUNK_EXPECTED", `each piece of ${what} is a chunk or a chunk reference`);
  }
  // One message is whole: it commits itself.
  yield { message: { case: "commit", value: { pieces: BigInt(pieces.length) } } };
}

async function* uploadPieces<H>(rest: AsyncIterable<UploadMessage<H>>): AsyncGenerator<IncomingPiece> {
  for await (const { message: m } of rest) {
    if (m.case === "chunk") yield { bytes: m.value };
    else if (m.case === "reference") yield { reference: m.value };
    else throw invalidArgument("CHUNK_EXPECTED", "after the header, an upload sends only chunks or chunk references");
  }
}

/**
 * Stores an incoming upload as content-addressed chunks while hashing all of it. Inline
 * bytes are regrouped into chunks of CHUNK_BYTES; referenced chunks (already stored by
 * a PUT) are adopted as they are, read back once for the file's digest.
 * Over `limit` bytes → ResourceExhausted; on any failure what was stored is marked as
 * garbage, so a cut-off upload leaves nothing behind.
 */
export async function receiveFile(
  deps: RegistryDeps,
  pieces: AsyncIterable<IncomingPiece>,
  options: { limit: number; what: string; local?: boolean },
): Promise<ReceivedFile> {
  const chunks: BlobChunk[] = [];
  const hash = createHash("sha256");
  const buffer = new Regrouper(CHUNK_BYTES);
  let size = 0;
  let spool: WriteStream | undefined;
  let spoolPath: string | undefined;
  const removeSpool = async () => {
    if (spoolPath) await rm(spoolPath, { force: true });
  };
  const discard = async () => {
    await registryGarbage(deps).mark(chunks.map((c) => c.sha256));
    await removeSpool();
  };
  const count = (bytes: number) => {
    size += bytes;
    if (size > options.limit) {
      throw resourceExhausted("MODEL_TOO_LARGE", `the ${options.what} exceeds the limit of ${options.limit} bytes (KILN_MAX_MODEL_BYTES)`);
    }
  };
  const toSpool = async (bytes: Uint8Array) => {
    if (spool && !spool.write(bytes)) await once(spool, "drain");
  };
  const take = async (bytes: Uint8Array) => {
    hash.update(bytes);
    await toSpool(bytes);
  };
  const storeChunk = async (chunk: Uint8Array) => {
    count(chunk.length);
    await take(chunk);
    const blob = await deps.blobs.put(chunk);
    chunks.push({ sha256: blob.sha256, size: blob.size });
  };
  const adopt = async (ref: { sha256: string; size: bigint }) => {
    const size = await checkUploadedChunk(deps.blobs, ref);
    count(size);
    chunks.push({ sha256: ref.sha256, size }); // before reading, so a failure marks it
    // Usually still in memory (withRecentPuts), lent for the call only: a spool keeps copies.
    const copies: Uint8Array[] = [];
    const lent = deps.blobs.readRecent?.(ref.sha256, (piece) => {
      hash.update(piece);
      if (spool) copies.push(Buffer.from(piece));
    });
    if (lent) for (const copy of copies) await toSpool(copy);
    else for await (const piece of deps.blobs.get(ref.sha256)) await take(piece);
  };
  try {
    // Chunks already lie on local disk as files; copying them into one more costs as
    // much CPU as storing them did (a 100 MB push spent a quarter of its time there).
    if (options.local && !deps.blobs.localPath) {
      await mkdir(deps.spoolDir, { recursive: true });
      spoolPath = join(deps.spoolDir, `${randomUUID()}.upload`);
      // Pieces are small (network frames): buffered, they go to the file a few writes at a time.
      spool = createWriteStream(spoolPath, { highWaterMark: SPOOL_BUFFER_BYTES });
    }
    for await (const piece of pieces) {
      if ("bytes" in piece) {
        for (const chunk of buffer.add(piece.bytes)) await storeChunk(chunk);
      } else {
        for (const chunk of buffer.flush()) await storeChunk(chunk);
        await adopt(piece.reference);
      }
    }
    for (const chunk of buffer.flush()) await storeChunk(chunk);
    if (spool) {
      spool.end();
      await once(spool, "finish");
    }
  } catch (e) {
    spool?.destroy();
    await discard();
    throw e;
  }
  const localParts = !options.local ? undefined : spoolPath ? [spoolPath] : chunks.map((c) => deps.blobs.localPath!(c.sha256));
  return { file: { chunks, size, sha256: hash.digest("hex") }, localParts, removeSpool, discard };
}

/** Regroups pieces into chunks of `size` bytes (the last may be shorter), copying only to join. */
class Regrouper {
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(private readonly size: number) {}

  add(piece: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (this.pendingBytes + piece.length >= this.size) {
      const take = this.size - this.pendingBytes;
      this.pending.push(piece.subarray(0, take));
      out.push(this.join());
      piece = piece.subarray(take);
    }
    if (piece.length) {
      this.pending.push(piece);
      this.pendingBytes += piece.length;
    }
    return out;
  }

  flush(): Uint8Array[] {
    return this.pendingBytes ? [this.join()] : [];
  }

  private join(): Uint8Array {
    const joined = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    return joined;
  }
}
