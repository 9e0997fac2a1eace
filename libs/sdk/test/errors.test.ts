import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Code, createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { call, ResourceExhaustedError } from "../src/errors.js";
import { nodeGrpcTransports } from "../src/node-grpc.js";

describe("call", () => {
  let server: http2.Http2Server;
  let url: string;
  const sessions: http2.ServerHttp2Session[] = [];

  beforeAll(async () => {
    const handler = connectNodeAdapter({
      routes: (router) =>
        router.service(StoreService, {
          async writeDataset(requests) {
            for await (const _ of requests);
            return {};
          },
        }),
    });
    server = http2.createServer(handler);
    server.on("session", (session) => sessions.push(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("a request stream that failed on this side gives that failure, not the Internal the call ended with", async () => {
    const store = createClient(StoreService, (await nodeGrpcTransports())(url));
    // As when a chunk's PUT is refused while the write that names it streams.
    const refused = new ResourceExhaustedError("chunk c is larger than the server accepts", Code.ResourceExhausted, "CHUNK_TOO_LARGE", { path: "c" });
    async function* requests() {
      yield { message: { case: "header" as const, value: { name: "projects/default/datasets/d" } } };
      throw refused;
    }
    expect(await call(() => store.writeDataset(requests())).catch((e: unknown) => e)).toBe(refused);
  });
});
