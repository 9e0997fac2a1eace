import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { pino } from "pino";
import { Health } from "@kiln/proto/health/v1/health_pb";
import { StoreService, WriteDatasetRequestSchema } from "@kiln/proto/kiln/store/v1/store_pb";
import { create, toBinary } from "@bufbuild/protobuf";
import { connect } from "node:http2";
import { createLogger } from "../src/logger.js";
import { serve, type KilnServer } from "../src/server.js";

describe("server bootstrap", () => {
  const exporter = new InMemorySpanExporter();
  let server: KilnServer;
  beforeAll(async () => {
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
    server = await serve({ host: "127.0.0.1", port: 0, logger: createLogger("test", "silent"), routes: () => {}, files: [], maxMessageBytes: 1 << 20 });
  });
  afterAll(async () => {
    await server.close(100);
    trace.disable();
  });

  it("serves HTTP/2 gRPC and HTTP/1.1 Connect on one port", async () => {
    expect(server.port).toBeGreaterThan(0);
    const grpc = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    const h1 = createClient(Health, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
    expect((await grpc.check({ service: "" })).status).toBe(1);
    expect((await h1.check({ service: "" })).status).toBe(1);
    expect((await fetch(`${server.url}/nowhere`)).status).toBe(404);
  });

  it("traces every call as a server span, with the error code when it fails", async () => {
    exporter.reset();
    const grpc = createClient(Health, createGrpcTransport({ baseUrl: server.url }));
    await grpc.check({ service: "" });
    const err = await grpc.check({ service: "nope" }).then(
      () => {
        throw new Error("Check of an unknown service succeeded");
      },
      (e) => ConnectError.from(e),
    );
    expect(err.code).toBe(Code.NotFound);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["grpc.health.v1.Health/Check", "grpc.health.v1.Health/Check"]);
    expect(spans[0].attributes).toMatchObject({ "rpc.system": "connect_rpc", "rpc.service": "grpc.health.v1.Health", "rpc.method": "Check" });
    expect(spans[1].status.code).toBe(2); // ERROR
    expect(spans[1].attributes["rpc.connect_rpc.error_code"]).toBe(Code.NotFound);
  });

  it("health watch streams changes, and close drains to NOT_SERVING", async () => {
    const other = await serve({ host: "127.0.0.1", port: 0, logger: createLogger("test", "silent"), routes: () => {}, files: [], maxMessageBytes: 1 << 20 });
    const client = createClient(Health, createGrpcTransport({ baseUrl: other.url }));
    const watch = client.watch({ service: "" })[Symbol.asyncIterator]();
    expect((await watch.next()).value?.status).toBe(1);
    const closing = other.close(200);
    expect((await watch.next()).value?.status).toBe(2); // NOT_SERVING
    await closing;
  });

  it("a client that goes away in the middle of a request stream is logged as such, not as an unexpected error", async () => {
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as { level: number; msg: string }) });
    let received = 0;
    let end = () => {};
    const ended = new Promise<void>((resolve) => (end = resolve));
    const other = await serve({
      host: "127.0.0.1",
      port: 0,
      logger,
      routes: (router) =>
        router.service(StoreService, {
          async writeDataset(requests) {
            try {
              for await (const _ of requests) received++;
              return {};
            } finally {
              end();
            }
          },
        }),
      files: [],
      maxMessageBytes: 1 << 20,
    });
    // A raw HTTP/2 client whose connection drops mid-stream (as when its process dies): no RST_STREAM, the socket just closes.
    const session = connect(other.url);
    const stream = session.request({ ":method": "POST", ":path": "/kiln.store.v1.StoreService/WriteDataset", "content-type": "application/grpc", te: "trailers" });
    const message = toBinary(WriteDatasetRequestSchema, create(WriteDatasetRequestSchema, { message: { case: "header", value: { name: "projects/default/datasets/cut" } } }));
    const frame = Buffer.alloc(5 + message.length);
    frame.writeUInt32BE(message.length, 1);
    frame.set(message, 5);
    stream.write(frame);
    stream.on("error", () => {});
    await expect.poll(() => received).toBe(1);
    session.destroy();
    await ended;
    await expect.poll(() => lines.some((l) => l.msg === "the client went away before the call ended")).toBe(true);
    expect(lines.filter((l) => l.level >= 50)).toEqual([]);
    await other.close(100);
  });
});
