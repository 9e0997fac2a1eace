import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { cors as connectCors } from "@connectrpc/connect";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;
type Handler = (req: Request, res: Response) => void;

// PUT: chunks go straight to the chunk routes (tracking artifacts, big model files).
const ALLOW_METHODS = [...connectCors.allowedMethods, "PUT"].join(", ");
const ALLOW_HEADERS = [...connectCors.allowedHeaders, "Authorization", "Traceparent", "Tracestate"].join(", ");
const EXPOSE_HEADERS = connectCors.exposedHeaders.join(", ");

/**
 * Lets browser apps on the configured origins call every RPC (Connect and gRPC-Web) and
 * the chunk routes.
 * Requests from other origins get no CORS headers, so browsers refuse them; non-browser
 * clients send no Origin and are not affected. `*` allows any origin.
 */
export function withCors(allowedOrigins: readonly string[], next: Handler): Handler {
  if (allowedOrigins.length === 0) return next;
  const any = allowedOrigins.includes("*");
  const allowed = new Set(allowedOrigins);
  return (req, res) => {
    const origin = req.headers.origin;
    if (typeof origin !== "string" || !(any || allowed.has(origin))) return next(req, res);
    const r = res as ServerResponse;
    r.setHeader("Access-Control-Allow-Origin", origin);
    r.setHeader("Vary", "Origin");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
      r.writeHead(204, {
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": "7200",
      });
      r.end();
      return;
    }
    r.setHeader("Access-Control-Expose-Headers", EXPOSE_HEADERS);
    next(req, res);
  };
}
