// One port for HTTP/2 and HTTP/1.1: gRPC throughput through Kiln's server (which looks
// at each connection's first bytes) against a plain Node HTTP/2 server with the same
// handler. Rounds alternate so machine noise hits both alike; medians are compared.
// Usage: node bench/one-port.mjs [--calls 20000] [--rounds 5]
import http2 from "node:http2";
import { once } from "node:events";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { createLogger, HealthState, registerHealth, registerReflection, serve } from "@kiln/core";
import { kilnFiles } from "@kiln/proto";
import { Health } from "@kiln/proto/health/v1/health_pb";
import { ServerReflection } from "@kiln/proto/grpc/reflection/v1/reflection_pb";
import { arg } from "./lib.mjs";

const calls = Number(arg("calls", "20000"));
const rounds = Number(arg("rounds", "5"));
const CONCURRENCY = 64;
const logger = createLogger("bench", "silent");
const health = new HealthState();
const routes = (router) => {
  registerHealth(router, health);
  registerReflection(router, kilnFiles);
};

const kiln = await serve({ host: "127.0.0.1", port: 0, logger, routes, files: kilnFiles, maxMessageBytes: 16 << 20 });
const plain = http2.createServer(connectNodeAdapter({ routes }));
plain.listen(0, "127.0.0.1");
await once(plain, "listening");
const plainUrl = `http://127.0.0.1:${plain.address().port}`;

async function unaryPerSecond(url) {
  const client = createClient(Health, createGrpcTransport({ baseUrl: url }));
  await client.check({ service: "" });
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < calls) await client.check({ service: "" });
    }),
  );
  return calls / ((performance.now() - start) / 1000);
}

async function streamMBps(url) {
  const client = createClient(ServerReflection, createGrpcTransport({ baseUrl: url }));
  const requests = Math.max(1, Math.floor(calls / 4));
  let bytes = 0;
  const start = performance.now();
  const res = client.serverReflectionInfo(
    (async function* () {
      for (let i = 0; i < requests; i++) yield { messageRequest: { case: "fileContainingSymbol", value: "kiln.store.v1.StoreService" } };
    })(),
  );
  for await (const r of res) for (const f of r.messageResponse.value.fileDescriptorProto) bytes += f.length;
  return bytes / 1e6 / ((performance.now() - start) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = { kilnUnary: [], plainUnary: [], kilnStream: [], plainStream: [] };
for (let r = 0; r < rounds; r++) {
  results.kilnUnary.push(await unaryPerSecond(kiln.url));
  results.plainUnary.push(await unaryPerSecond(plainUrl));
  results.plainStream.push(await streamMBps(plainUrl));
  results.kilnStream.push(await streamMBps(kiln.url));
}
const ku = median(results.kilnUnary), pu = median(results.plainUnary);
const ks = median(results.kilnStream), ps = median(results.plainStream);
console.log(`unary gRPC calls/s   one port ${ku.toFixed(0)}   plain HTTP/2 ${pu.toFixed(0)}   ratio ${(ku / pu).toFixed(3)}`);
console.log(`bidi stream MB/s     one port ${ks.toFixed(1)}   plain HTTP/2 ${ps.toFixed(1)}   ratio ${(ks / ps).toFixed(3)}`);
console.log(`target: within 5% (ratio >= 0.95); ${Math.min(ku / pu, ks / ps) >= 0.95 ? "met" : "NOT met"}`);
await kiln.close(100);
plain.close();
process.exit(0);
