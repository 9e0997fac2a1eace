import net from "node:net";
import { describe, expect, it } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { StoreService, type ReadDatasetResponseSchema } from "@kiln/proto/kiln/store/v1/store_pb";
import { createLogger } from "../src/logger.js";
import { serve } from "../src/server.js";

/** A server whose one streaming method sends two messages and ends. */
function twoMessageServer() {
  return serve({
    host: "127.0.0.1",
    port: 0,
    logger: createLogger("test", "silent"),
    files: [],
    maxMessageBytes: 1 << 20,
    routes: (router) =>
      router.service(StoreService, {
        async *readDataset(): AsyncGenerator<MessageInitShape<typeof ReadDatasetResponseSchema>> {
          yield { message: { case: "header", value: {} } };
          yield { message: { case: "chunk", value: { data: new Uint8Array(10) } } };
        },
      }),
  });
}

describe("graceful shutdown does not wait on idle clients", () => {
  it("a client that abandoned a finished stream and keeps its connection", async () => {
    const server = await twoMessageServer();
    const client = createClient(StoreService, createGrpcTransport({ baseUrl: server.url }));
    const abort = new AbortController();
    const it = client.readDataset({}, { signal: abort.signal })[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 50));
    abort.abort();
    const start = Date.now();
    await server.close(5000);
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it("a client that connected and never sent a byte", async () => {
    const server = await twoMessageServer();
    const socket = net.connect(server.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const start = Date.now();
    await server.close(5000);
    expect(Date.now() - start).toBeLessThan(2000);
    socket.destroy();
  });
});
