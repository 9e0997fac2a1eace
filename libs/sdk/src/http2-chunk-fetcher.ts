import { createHash } from "node:crypto";
import http2 from "node:http2";
import { UnavailableError } from "./errors.js";
import { httpStatusError, type ChunkFetcher } from "./chunk-fetch.js";
import { Code } from "@connectrpc/connect";
import { authorizationHeader, type TokenSource } from "./token-source.js";
import { CONNECTION_WINDOW_BYTES, MAX_SESSION_MEMORY_MB, STREAM_WINDOW_BYTES } from "./node-grpc.js";

/**
 * Node: chunk GETs multiplexed over one HTTP/2 connection with wide flow-control
 * windows (the defaults cap a stream at 64 KiB in flight). The session keeps the process
 * alive only while a fetch is in flight, so an idle client never holds a script open,
 * and it is reopened if it drops.
 */
export function http2ChunkFetcher(baseUrl: string, token?: TokenSource): ChunkFetcher {
  let session: http2.ClientHttp2Session | undefined;
  let inFlight = 0;
  /** Runs one request on the session, which keeps the process alive only meanwhile. */
  const withSession = async <T>(request: (s: http2.ClientHttp2Session) => Promise<T>): Promise<T> => {
    const s = open();
    inFlight++;
    s.ref();
    try {
      return await request(s);
    } finally {
      if (--inFlight === 0) s.unref();
    }
  };

  function open(): http2.ClientHttp2Session {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(baseUrl, { maxSessionMemory: MAX_SESSION_MEMORY_MB, settings: { initialWindowSize: STREAM_WINDOW_BYTES } });
    s.on("connect", () => s.setLocalWindowSize(CONNECTION_WINDOW_BYTES));
    s.on("error", () => {}); // surfaced by the streams that fail
    s.on("close", () => {
      if (session === s) session = undefined;
    });
    s.unref();
    session = s;
    return s;
  }

  return {
    async fetch(path, size, into) {
      const authorization = await authorizationHeader(token);
      return withSession((s) => new Promise<{ bytes: Uint8Array }>((resolve, reject) => {
        const req = s.request({ ":path": path, ...authorization });
        // Memory of its own, never a slice of Node's shared pool: a caller may reuse it.
        const body = into && into.length >= size ? Buffer.from(into.buffer, into.byteOffset, size) : Buffer.allocUnsafeSlow(size);
        let received = 0;
        let failed = false;
        const fail = (e: Error) => {
          if (failed) return;
          failed = true;
          req.close(http2.constants.NGHTTP2_CANCEL);
          reject(e);
        };
        req.on("response", (headers) => {
          const status = Number(headers[":status"]);
          if (status !== 200) fail(httpStatusError(status, path));
        });
        req.on("data", (piece: Buffer) => {
          if (failed) return;
          if (received + piece.length > size) return fail(unavailable(path, "more bytes than announced"));
          piece.copy(body, received);
          received += piece.length;
        });
        req.on("end", () => {
          if (failed) return;
          if (received !== size) return fail(unavailable(path, `cut off after ${received} of ${size} bytes`));
          // Hashed by the caller (fetchVerified), off this thread.
          resolve({ bytes: body });
        });
        req.on("error", (e) => fail(unavailable(path, e.message)));
        req.end();
      }));
    },
    async put(prefix, bytes) {
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      const path = prefix + sha256;
      const authorization = await authorizationHeader(token);
      return withSession((s) => new Promise<string>((resolve, reject) => {
        const req = s.request({ ":method": "PUT", ":path": path, "content-length": String(bytes.length), ...authorization });
        let status: number | undefined;
        let failure: Error | undefined;
        req.on("response", (headers) => {
          status = Number(headers[":status"]);
          req.resume();
        });
        req.on("error", (e) => (failure = unavailable(path, e.message)));
        // Settled once the stream is closed, so the bytes are no longer being sent (a server
        // that has the chunk already answers before the body is through).
        req.on("close", () => {
          if (status === 200 || status === 201) resolve(sha256);
          else if (status !== undefined) reject(httpStatusError(status, path));
          else reject(failure ?? unavailable(path, "the stream closed without an answer"));
        });
        req.end(bytes);
      }));
    },
    close() {
      session?.close();
      session = undefined;
    },
  };
}

function unavailable(path: string, why: string): Error {
  return new UnavailableError(`chunk ${path}: ${why}`, Code.Unavailable, "CHUNK_UNAVAILABLE", { path });
}
