import http from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { setMaxListeners } from "node:events";
import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "pino";
import { withCors } from "./cors.js";
import { answerAfterBody } from "./discard-body.js";
import { errorInterceptor } from "./error-interceptor.js";
import { tracingInterceptor } from "./tracing-interceptor.js";
import { authInterceptor } from "./auth/auth-interceptor.js";
import type { Authorizer } from "./auth/authorizer.js";
import { registerAuthService } from "./auth/whoami.js";
import { checkHttpAccess, defaultHttpAccess, type HttpAccess } from "./auth/http-access.js";
import { setHttpCaller } from "./auth/caller.js";
import { HealthState, registerHealth } from "./health.js";
import { registerReflection } from "./reflection.js";
import { file_health_v1_health } from "@kiln/proto/health/v1/health_pb";
import { file_grpc_reflection_v1_reflection } from "@kiln/proto/grpc/reflection/v1/reflection_pb";
import { file_grpc_reflection_v1alpha_reflection } from "@kiln/proto/grpc/reflection/v1alpha/reflection_pb";

type FallbackArgs = Parameters<NonNullable<Parameters<typeof connectNodeAdapter>[0]["fallback"]>>;
/** A request from either the HTTP/1.1 or the HTTP/2 server. */
export type HttpRequest = FallbackArgs[0];
export type HttpResponse = FallbackArgs[1];

/** A plain HTTP endpoint beside the RPCs (bulk bytes that skip the RPC framing). */
export interface HttpRoute {
  /** Path prefix, e.g. "/kiln/store/v1/chunks/"; the rest of the path goes to handle. */
  prefix: string;
  /** Default GET and HEAD. */
  methods?: readonly string[];
  /** What a request needs when the server checks tokens (default: reads need read, the rest write, in any project). */
  access?(rest: string, method: string): HttpAccess;
  handle(rest: string, req: HttpRequest, res: HttpResponse): void;
}

export interface ServeOptions {
  host: string;
  /** 0 picks a free port; the server reports the one it got. */
  port: number;
  logger: Logger;
  routes: (router: ConnectRouter) => void;
  /** Contract files offered through server reflection. */
  files: readonly DescFile[];
  maxMessageBytes: number;
  /** Browser origins allowed to call (CORS); empty: none, "*": any. */
  corsOrigins?: readonly string[];
  /** /readyz answers 200 only while this holds (default: always). */
  ready?: () => boolean | Promise<boolean>;
  httpRoutes?: readonly HttpRoute[];
  /** Checks every call's bearer token (KILN_AUTH_SECRETS); absent: anyone who reaches the port may do anything. */
  auth?: Authorizer;
}

export interface KilnServer {
  port: number;
  url: string;
  health: HealthState;
  /** Stops accepting, marks health NOT_SERVING, lets running calls finish (up to graceMs). */
  close(graceMs?: number): Promise<void>;
}

const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
const CONNECTION_WINDOW_BYTES = 64 * 1024 * 1024;
/** Node's default (10 MB) resets streams once a few chunks are queued on one session. */
const SESSION_MEMORY_MB = 256;
const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One port for gRPC (HTTP/2 cleartext, prior knowledge) and for HTTP/1.1 (Connect
 * JSON, gRPC-Web, curl, health probes). Node's h2c server has no HTTP/1.1 fallback, so
 * the first bytes of each connection decide which server gets the socket; after that
 * the socket belongs to that server and nothing sits in the data path.
 */
export async function serve(options: ServeOptions): Promise<KilnServer> {
  const { logger } = options;
  const health = new HealthState();
  const shutdown = new AbortController();
  setMaxListeners(0, shutdown.signal); // every running call listens for shutdown

  const rpcHandler = connectNodeAdapter({
    routes: (router) => {
      options.routes(router);
      registerHealth(router, health);
      registerAuthService(router, options.auth !== undefined);
      registerReflection(router, [...options.files, file_health_v1_health, file_grpc_reflection_v1_reflection, file_grpc_reflection_v1alpha_reflection]);
      for (const h of router.handlers) health.set(h.service.typeName, 1);
    },
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    // Compressed requests are accepted, but responses go out uncompressed: gzip runs at
    // ~20 MB/s on Arrow and tensor bytes, five times slower than the whole read path.
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    // Tracing sees errors after they are mapped, so spans carry the code callers get.
    interceptors: [tracingInterceptor(), errorInterceptor(logger), ...(options.auth ? [authInterceptor(options.auth, logger)] : [])],
    shutdownSignal: shutdown.signal,
    fallback: (req, res) => {
      const path = (req.url ?? "").split("?")[0];
      if (path === "/healthz") return plain(res, 200, "ok\n");
      if (path === "/readyz") {
        void Promise.resolve(options.ready?.() ?? true).then(
          (ok) => plain(res, ok && !shutdown.signal.aborted ? 200 : 503, ok ? "ready\n" : "not ready\n"),
          () => plain(res, 503, "not ready\n"),
        );
        return;
      }
      // Refusals are answered once a request's body is through (see discardBody).
      const refuse = (status: number, text: string) => answerAfterBody(req, () => plain(res, status, text));
      const route = options.httpRoutes?.find((r) => path.startsWith(r.prefix));
      if (!route) return refuse(404, "not found\n");
      if (!(route.methods ?? ["GET", "HEAD"]).includes(req.method ?? "")) return refuse(405, "method not allowed\n");
      const rest = path.slice(route.prefix.length);
      if (!options.auth) return route.handle(rest, req, res);
      const access: HttpAccess = route.access?.(rest, req.method ?? "") ?? defaultHttpAccess(req.method ?? "");
      void checkHttpAccess(options.auth, access, req.headers.authorization, `${req.method} ${route.prefix}`).then((check) => {
        if (check.allowed) {
          setHttpCaller(req, check.claims);
          return route.handle(rest, req, res);
        }
        if (check.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="kiln"');
        refuse(check.status, check.message + "\n");
      }, (e: unknown) => {
        logger.error({ err: e, path }, "a plain HTTP request failed (its token check or its route)");
        refuse(500, "internal error\n");
      });
    },
  });

  const handler = withCors(options.corsOrigins ?? [], rpcHandler as Parameters<typeof withCors>[1]);
  const h1 = http.createServer(handler);
  // Wide flow-control windows let a client keep sending the next chunk while the
  // handler still hashes and stores the previous one.
  const h2 = http2.createServer({ maxSessionMemory: SESSION_MEMORY_MB, settings: { initialWindowSize: STREAM_WINDOW_BYTES } }, handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  // Open streams per session: a closing session with none left is ended at once. Node's
  // graceful close otherwise waits for the client to hang up, which an idle client
  // holding a pooled connection never does.
  const openStreams = new Map<http2.ServerHttp2Session, number>();
  h2.on("session", (s) => {
    s.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    sessions.add(s);
    openStreams.set(s, 0);
    s.on("stream", (stream) => {
      openStreams.set(s, (openStreams.get(s) ?? 0) + 1);
      stream.on("close", () => {
        const left = (openStreams.get(s) ?? 1) - 1;
        openStreams.set(s, left);
        if (left === 0 && shutdown.signal.aborted) s.destroy();
      });
    });
    s.on("close", () => {
      sessions.delete(s);
      openStreams.delete(s);
    });
  });

  // Every connection, and those whose first bytes have not arrived yet: close() must end
  // both, or front.close() waits forever on a client that connected and said nothing.
  const sockets = new Set<net.Socket>();
  const unrouted = new Set<net.Socket>();
  const front = net.createServer((socket) => {
    sockets.add(socket);
    unrouted.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      unrouted.delete(socket);
    });
    routeConnection(socket, h1, h2, () => unrouted.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen(options.port, options.host, () => resolve());
  });
  const port = (front.address() as net.AddressInfo).port;
  const shownHost = options.host.includes(":") ? `[${options.host}]` : options.host;

  return {
    port,
    url: `http://${shownHost}:${port}`,
    health,
    async close(graceMs = 10_000) {
      health.drain();
      shutdown.abort();
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      h1.closeIdleConnections();
      for (const s of sessions) {
        s.close();
        if (openStreams.get(s) === 0) s.destroy();
      }
      for (const socket of unrouted) socket.destroy();
      // A finished session only ends its socket's writing side, and a client that keeps a
      // pooled connection never hangs up its own: end such half-closed sockets as they appear.
      const reaper = setInterval(() => {
        for (const socket of sockets) if (!socket.writable) socket.destroy();
      }, 50);
      reaper.unref();
      const timer = setTimeout(() => {
        h1.closeAllConnections();
        for (const s of sessions) s.destroy();
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
      clearInterval(reaper);
    },
  };
}

function routeConnection(socket: net.Socket, h1: http.Server, h2: http2.Http2Server, routed: () => void): void {
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    const n = Math.min(head.length, HTTP2_PREFACE.length);
    const isH2 = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
    if (isH2 && head.length < HTTP2_PREFACE.length) return; // wait for the whole preface
    socket.off("data", onData);
    routed();
    socket.pause();
    socket.unshift(head);
    if (isH2) {
      // The HTTP/2 session reads the native handle and, on the next tick, replays what
      // is already buffered; resuming here would hand those bytes to no one.
      h2.emit("connection", socket);
    } else {
      h1.emit("connection", socket);
      socket.resume();
    }
  };
  socket.on("data", onData);
  socket.on("error", () => socket.destroy());
}

function plain(res: { writeHead(status: number, headers: Record<string, string>): unknown; end(body: string): unknown }, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(body);
}
