import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from "@opentelemetry/api";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { aroundCall } from "./around-call.js";

const tracer = trace.getTracer("kiln");

/**
 * One server span per RPC, named "package.Service/Method", continuing the caller's trace
 * from its traceparent header. Without a registered tracer provider (telemetry off) the
 * API hands out no-op spans, so this costs next to nothing.
 */
export function tracingInterceptor(): Interceptor {
  return aroundCall((req) => {
    const service = req.method.parent.typeName;
    const parent = propagation.extract(context.active(), req.header, {
      get: (h, key) => h.get(key) ?? undefined,
      keys: (h) => [...h.keys()],
    });
    const span = tracer.startSpan(
      `${service}/${req.method.name}`,
      { kind: SpanKind.SERVER, attributes: { "rpc.system": "connect_rpc", "rpc.service": service, "rpc.method": req.method.name } },
      parent,
    );
    return {
      run: (handler) => context.with(trace.setSpan(parent, span), handler),
      done: () => end(span),
      failed: (e) => {
        end(span, e);
        return e;
      },
    };
  });
}

function end(span: Span, error?: unknown): void {
  if (error !== undefined) {
    const code = error instanceof ConnectError ? error.code : undefined;
    span.setAttribute("rpc.connect_rpc.error_code", code ?? "internal");
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
  span.end();
}
