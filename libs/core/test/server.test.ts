import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { trace } from "@opentelemetry/api";
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "@kiln/proto/health/v1/health_pb";
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
});
