import type { Transport } from "@connectrpc/connect";
import { authorizationHeader, type TokenSource } from "./token-source.js";

/** A transport that sends `Authorization: Bearer <token>` with every call (the current token, for a source that refreshes). */
export function withToken(transport: Transport, source: TokenSource | undefined): Transport {
  if (!source) return transport;
  const authorized = async (header: ConstructorParameters<typeof Headers>[0]): Promise<Headers> => {
    const h = new Headers(header);
    for (const [name, value] of Object.entries(await authorizationHeader(source))) h.set(name, value);
    return h;
  };
  return {
    unary: async (method, signal, timeoutMs, header, input, contextValues) => transport.unary(method, signal, timeoutMs, await authorized(header), input, contextValues),
    stream: async (method, signal, timeoutMs, header, input, contextValues) => transport.stream(method, signal, timeoutMs, await authorized(header), input, contextValues),
  };
}
