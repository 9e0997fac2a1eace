import { isStorageFull, storageFull } from "./storage-full.js";
import type { Logger } from "pino";
import type { HttpRequest, HttpResponse, HttpRoute } from "./server.js";
import { streamPieces } from "./stream-pieces.js";
import { answerAfterBody, discardBody } from "./discard-body.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What a blob route needs of a blob store (structurally, so core stays storage-free). */
export interface ServableBlobs {
  stat(sha256: string): Promise<{ size: number } | undefined>;
  get(sha256: string, options?: { verify?: boolean }): AsyncIterable<Uint8Array>;
  put(data: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }>;
}

export interface BlobRouteOptions {
  /** Largest chunk a PUT may send (413 beyond). */
  maxPutBytes: number;
  /**
   * Called with every blob a PUT stored (or found stored). Uploaded chunks are not referenced by anything
   * until a write names them, so the service marks them as garbage at once: the sweep
   * keeps them if a write committed them within the grace period, else deletes them.
   */
  onStored(sha256: string): Promise<void>;
}

/**
 * {prefix}{sha256}: a stored chunk's bytes over plain HTTP, for bulk transfers that would
 * otherwise pay for RPC framing and protobuf copies.
 * - GET/HEAD: the server skips its own digest check because the reader hashes what it
 *   receives against the ChunkReference.
 * - PUT: stores the body if it hashes to the name (201, or 200 when already stored),
 *   400 otherwise; writes then name the chunk by reference.
 */
export function blobRoute(prefix: string, blobs: ServableBlobs, logger: Logger, options: BlobRouteOptions): HttpRoute {
  return {
    prefix,
    methods: ["GET", "HEAD", "PUT"],
    handle(rest, req, res) {
      const served = req.method === "PUT" ? receiveBlob(blobs, options, rest, req, res) : serveBlob(blobs, rest, req, res);
      void served.catch((e: unknown) => {
        logger.warn({ err: e, sha256: rest, method: req.method }, "chunk transfer failed");
        // Headers may be out already: cutting the stream tells the client it is incomplete.
        if (res.headersSent) res.destroy();
        else if (isStorageFull(e)) text(res, 507, `${storageFull().message}\n`);
        else text(res, 500, "chunk transfer failed\n");
      });
    },
  };
}

async function serveBlob(blobs: ServableBlobs, sha256: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  if (!SHA256_HEX.test(sha256)) return text(res, 400, "a chunk is named by its lowercase hex sha256\n");
  const info = await blobs.stat(sha256);
  if (!info) return text(res, 404, "no such chunk\n");
  res.writeHead(200, {
    "content-type": "application/octet-stream",
    "content-length": String(info.size),
    etag: `"${sha256}"`,
    // Content-addressed: the bytes behind a name never change.
    "cache-control": "private, max-age=31536000, immutable",
  });
  if (req.method === "HEAD") return void res.end();
  for await (const piece of blobs.get(sha256, { verify: false })) {
    if (res.destroyed) return;
    if (!res.write(piece)) await drained(res);
  }
  res.end();
}

async function receiveBlob(blobs: ServableBlobs, options: BlobRouteOptions, sha256: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  // Every answer waits for the body's end (discardBody says why).
  const refuse = (status: number, body: string) => answerAfterBody(req, () => text(res, status, body));
  if (!SHA256_HEX.test(sha256)) return refuse(400, "a chunk is named by its lowercase hex sha256\n");
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (declared > options.maxPutBytes) return refuse(413, `a chunk may hold at most ${options.maxPutBytes} bytes\n`);
  if (await blobs.stat(sha256)) {
    // Already stored: the body is dropped, then answered.
    await discardBody(req, Number.POSITIVE_INFINITY);
    await options.onStored(sha256);
    return text(res, 200, "stored\n");
  }
  let size = 0;
  const body = (async function* () {
    for await (const piece of streamPieces(req)) {
      size += piece.length;
      if (size > options.maxPutBytes) throw new TooLarge();
      yield piece;
    }
  })();
  let stored: { sha256: string };
  try {
    stored = await blobs.put(body);
  } catch (e) {
    if (e instanceof TooLarge) return refuse(413, `a chunk may hold at most ${options.maxPutBytes} bytes\n`);
    throw e;
  }
  await options.onStored(stored.sha256);
  if (stored.sha256 !== sha256) return text(res, 400, `the body's sha256 is ${stored.sha256}, not its name\n`);
  text(res, 201, "stored\n");
}

class TooLarge extends Error {}

function drained(res: HttpResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

function text(res: HttpResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}
