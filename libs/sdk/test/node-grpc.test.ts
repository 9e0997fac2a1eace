import { afterAll, beforeAll, describe, expect, it } from "vitest";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { createClient } from "@connectrpc/connect";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES, nodeGrpcTransports } from "../src/node-grpc.js";

describe("the SDK's gRPC transport", () => {
  let server: http2.Http2Server;
  let url: string;
  const seen: { connection: number; stream: number }[] = [];
  const sessions: http2.ServerHttp2Session[] = [];

  beforeAll(async () => {
    server = http2.createServer();
    server.on("session", (session) => sessions.push(session));
    // What the client has let this server send: its connection window and a new stream's.
    server.on("stream", (stream) => {
      seen.push({ connection: stream.session!.state.remoteWindowSize!, stream: stream.session!.remoteSettings.initialWindowSize! });
      stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const session of sessions) session.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("opens wide flow-control windows, so a server stream's large messages need no round trips", async () => {
    const store = createClient(StoreService, (await nodeGrpcTransports())(url));
    await expect(store.getDataset({ name: "projects/p/datasets/d" })).rejects.toThrow();
    await expect(store.getDataset({ name: "projects/p/datasets/d" })).rejects.toThrow();
    expect(seen).toHaveLength(2);
    expect(seen[0]!.stream).toBe(STREAM_WINDOW_BYTES);
    // The second call sees the connection's window widened when the first stream opened.
    expect(seen[1]!.connection).toBeGreaterThanOrEqual(CONNECTION_WINDOW_BYTES);
  });
});
