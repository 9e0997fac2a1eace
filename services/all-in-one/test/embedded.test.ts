import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import type { RunningProcess } from "@kiln/core";
import { Health, HealthCheckResponse_ServingStatus } from "@kiln/proto/health/v1/health_pb";
import { ServerReflection } from "@kiln/proto/grpc/reflection/v1/reflection_pb";
import { ServerReflection as ServerReflectionAlpha } from "@kiln/proto/grpc/reflection/v1alpha/reflection_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

const repoRoot = join(import.meta.dirname, "../../..");

describe("embedded Kiln over real HTTP/2 and HTTP/1.1 on one port", () => {
  let dir: string;
  let running: RunningProcess;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-embedded-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent" }, false);
    url = running.server.url;
  });
  afterAll(async () => {
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("the SDK writes by client stream over HTTP/2 and reads back", async () => {
    const kiln = await Kiln.connect(url);
    await kiln.datasets.put("iris", [
      { sepal: 5.1, species: "setosa" },
      { sepal: 7.0, species: "versicolor" },
    ]);
    const t = (await kiln.datasets.get("iris", { filter: 'species = "setosa"' })) as import("apache-arrow").Table;
    expect(t.toArray().map((r) => r.toJSON())).toEqual([{ sepal: 5.1, species: "setosa" }]);
  });

  it("a @grpc/grpc-js client built from the .proto files speaks the same contract", async () => {
    const def = protoLoader.loadSync("kiln/store/v1/store.proto", {
      includeDirs: [join(repoRoot, "proto")],
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      kiln: { store: { v1: { StoreService: grpc.ServiceClientConstructor } } };
    };
    const client = new pkg.kiln.store.v1.StoreService(url.replace("http://", ""), grpc.credentials.createInsecure()) as grpc.Client &
      Record<string, (...args: unknown[]) => unknown>;
    const name = "projects/default/datasets/grpcjs";
    const written = await new Promise<{ version: { version: number; rowCount: number } }>((resolve, reject) => {
      const call = (client.WriteDataset as (cb: (e: Error | null, r: unknown) => void) => grpc.ClientWritableStream<unknown>)((e, r) =>
        e ? reject(e) : resolve(r as never),
      );
      call.write({ header: { name, kind: "DATASET_KIND_TABLE" } });
      call.write({ chunk: { data: Buffer.from(tableToIPC(tableFromArrays({ v: new Int32Array([1, 2, 3]) }), "stream")) } });
      call.end();
    });
    expect(written.version).toMatchObject({ version: 1, rowCount: 3 });

    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const stream = (client.ReadDataset as (req: unknown) => grpc.ClientReadableStream<{ chunk?: { data: Buffer } }>)({ name, filter: "v >= 2" });
      stream.on("data", (m) => m.chunk && chunks.push(m.chunk.data));
      stream.on("end", resolve);
      stream.on("error", reject);
    });
    expect(Array.from(tableFromIPC(chunks[0]).getChild("v")!.toArray() as Int32Array)).toEqual([2, 3]);

    const err = await new Promise<grpc.ServiceError>((resolve) =>
      (client.GetDataset as (req: unknown, cb: (e: grpc.ServiceError) => void) => void)({ name: "projects/default/datasets/missing" }, resolve),
    );
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toContain("not found");
    expect(err.metadata.get("grpc-status-details-bin").length).toBe(1);
    client.close();
  });

  it("plain HTTP/1.1 clients use the Connect JSON protocol", async () => {
    const post = (method: string, body: unknown) =>
      fetch(`${url}/kiln.store.v1.StoreService/${method}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const created = await post("CreateDataset", { parent: "projects/default", datasetId: "viajson", kind: "DATASET_KIND_DOCUMENT", labels: { via: "curl" } });
    expect(created.status).toBe(200);
    expect(await created.json()).toMatchObject({ dataset: { name: "projects/default/datasets/viajson", kind: "DATASET_KIND_DOCUMENT", labels: { via: "curl" } } });
    const missing = await post("GetDataset", { name: "projects/default/datasets/nope" });
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { code: string; message: string; details: { type: string }[] };
    expect(body.code).toBe("not_found");
    expect(body.details[0].type).toBe("google.rpc.ErrorInfo");
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js/); // no stack traces on the wire
  });

  it("gRPC-Web clients work too", async () => {
    const store = createClient(StoreService, createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" }));
    const res = await store.getDataset({ name: "projects/default/datasets/iris" });
    expect(res.dataset?.latestVersion).toBe(1n);
  });

  it("says it checks no tokens when asked who the caller is", async () => {
    const kiln = await Kiln.connect({ url, token: "" });
    expect(await kiln.whoami()).toMatchObject({ tokensChecked: false, subject: "" });
  });

  it("serves health over gRPC and /healthz, /readyz over HTTP/1.1", async () => {
    const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
    expect((await health.check({ service: "" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await health.check({ service: "kiln.store.v1.StoreService" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it("offers server reflection so grpcurl can list and describe every RPC", async () => {
    const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: url }));
    const responses = reflection.serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "kiln.store.v1.StoreService.ReadDataset" } };
      })(),
    );
    const got = [];
    for await (const r of responses) got.push(r);
    const list = got[0].messageResponse;
    expect(list.case).toBe("listServicesResponse");
    const services = list.case === "listServicesResponse" ? list.value.service.map((s) => s.name) : [];
    expect(services).toEqual(expect.arrayContaining(["kiln.store.v1.StoreService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]));
    const files = got[1].messageResponse;
    expect(files.case).toBe("fileDescriptorResponse");
    const names = files.case === "fileDescriptorResponse" ? files.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name) : [];
    expect(names[0]).toBe("kiln/store/v1/store.proto");
    expect(names).toEqual(expect.arrayContaining(["kiln/common/v1/table.proto", "google/protobuf/timestamp.proto"]));
  });

  it("answers reflection v1alpha too, for older tools", async () => {
    const reflection = createClient(ServerReflectionAlpha, createGrpcTransport({ baseUrl: url }));
    const responses = reflection.serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: "fileByFilename" as const, value: "kiln/store/v1/store.proto" } };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "no.such.Symbol" } };
      })(),
    );
    const got = [];
    for await (const r of responses) got.push(r.messageResponse);
    expect(got[0].case).toBe("fileDescriptorResponse");
    expect(got[1].case).toBe("errorResponse");
  });
});
