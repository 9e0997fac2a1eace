import type { Logger } from "pino";
import type { HttpRequest, HttpResponse, HttpRoute } from "./server.js";

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** What a blob route needs of a blob store (structurally, so core stays storage-free). */
export interface ServableBlobs {
  stat(sha256: string): Promise<{ size: number } | undefined>;
  get(sha256: string, options?: { verify?: boolean }): AsyncIterable<Uint8Array>;
}

/**
 * GET {prefix}{sha256}: a stored chunk's bytes over plain HTTP, for bulk transfers that
 * would otherwise pay for RPC framing and protobuf copies. The server skips its own
 * digest check because the reader hashes what it receives against the ChunkReference.
 */
export function blobRoute(prefix: string, blobs: ServableBlobs, logger: Logger): HttpRoute {
  return {
    prefix,
    handle(rest, req, res) {
      void serveBlob(blobs, logger, rest, req, res);
    },
  };
}

async function serveBlob(blobs: ServableBlobs, logger: Logger, sha256: string, req: HttpRequest, res: HttpResponse): Promise<void> {
  if (!SHA256_HEX.test(sha256)) return text(res, 400, "a chunk is named by its lowercase hex sha256\n");
  try {
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
  } catch (e) {
    logger.warn({ err: e, sha256 }, "chunk transfer failed");
    // Headers may be out already: cutting the stream tells the client it is incomplete.
    if (res.headersSent) res.destroy();
    else text(res, 500, "chunk unavailable\n");
  }
}

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
