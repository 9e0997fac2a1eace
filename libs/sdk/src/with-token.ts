import type { Transport } from "@connectrpc/connect";

/** A transport that sends `Authorization: Bearer <token>` with every call. */
export function withToken(transport: Transport, token: string | undefined): Transport {
  if (!token) return transport;
  const authorized = (header: ConstructorParameters<typeof Headers>[0]): Headers => {
    const h = new Headers(header);
    h.set("authorization", `Bearer ${token}`);
    return h;
  };
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => transport.unary(method, signal, timeoutMs, authorized(header), input, contextValues),
    stream: (method, signal, timeoutMs, header, input, contextValues) => transport.stream(method, signal, timeoutMs, authorized(header), input, contextValues),
  };
}
