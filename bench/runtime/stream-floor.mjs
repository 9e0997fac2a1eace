// The floor under a streamed remote predict: a bare connect-node server, configured as Kiln's
// (wide HTTP/2 windows, responses uncompressed), streams a million float32 predictions as
// predict.mjs gets them back (8 ReadJobResults messages of 125,000 rows, Arrow IPC encoded
// beforehand) to the SDK's gRPC transport in another process, which decodes them. No job,
// no store, no model: the time the transport alone needs, against onnxruntime-node running
// the linear model of predict.mjs on the same rows in the client process.
// Usage: node bench/runtime/stream-floor.mjs [--rounds 30]
import http2 from "node:http2";
import { spawn } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { tableFromArrays } from "apache-arrow";
import { InferenceSession } from "onnxruntime-node";
import { Kiln } from "@kiln/sdk";
import { decodeChunk, tableToIpc } from "@kiln/data";
import { ReadJobResultsResponseSchema, RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { arg, timed } from "../lib.mjs";
import { featureColumns, fittedModel, inputTensor } from "./rows.mjs";

const ROWS = 1_000_000;
const PER_MESSAGE = 125_000;

if (process.argv[2] === "client") await client(Number(process.argv[3]), Number(arg("rounds", "30")));
else await server();

async function server() {
  const ipc = tableToIpc(tableFromArrays({ prediction: Float32Array.from({ length: PER_MESSAGE }, (_, i) => i) }));
  const handler = connectNodeAdapter({
    compressMinBytes: Number.MAX_SAFE_INTEGER,
    writeMaxBytes: 256 * 1024 ** 2,
    routes: (router) =>
      router.service(RuntimeService, {
        async *readJobResults() {
          for (let sent = 0; sent < ROWS; sent += PER_MESSAGE) yield create(ReadJobResultsResponseSchema, { chunk: { arrowIpc: ipc } });
        },
      }),
  });
  const h2 = http2.createServer({ maxSessionMemory: 256, settings: { initialWindowSize: 16 * 1024 ** 2 } }, handler);
  h2.on("session", (session) => session.setLocalWindowSize(64 * 1024 ** 2));
  await new Promise((resolve) => h2.listen(0, "127.0.0.1", resolve));
  const child = spawn(process.execPath, [process.argv[1], "client", String(h2.address().port), ...process.argv.slice(2)], { stdio: "inherit" });
  const code = await new Promise((resolve) => child.on("exit", resolve));
  h2.close();
  process.exit(code ?? 1);
}

async function client(port, rounds) {
  const kiln = await Kiln.connect(`http://127.0.0.1:${port}`); // the SDK's own gRPC transport
  const results = createClient(RuntimeService, kiln.transport);
  const columns = featureColumns(ROWS);
  const session = await InferenceSession.create(fittedModel("linear", columns).toOnnx());
  const input = inputTensor(columns);

  let best = { stream: Infinity, direct: Infinity };
  for (let round = 0; round < rounds; round++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const direct = await timed(() => session.run({ X: input }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const stream = await timed(async () => {
      let rows = 0;
      for await (const res of results.readJobResults({ name: "floor" })) rows += decodeChunk(res.chunk.arrowIpc).numRows;
      if (rows !== ROWS) throw new Error(`got ${rows} rows, expected ${ROWS}`);
    });
    best = { stream: Math.min(best.stream, stream.seconds), direct: Math.min(best.direct, direct.seconds) };
  }
  console.log(`best of ${rounds} rounds; ${ROWS} float32 predictions in ${ROWS / PER_MESSAGE} messages`);
  console.log(`gRPC stream from a bare server, decoded   ${(best.stream * 1000).toFixed(1)} ms`);
  console.log(`onnxruntime in-process, linear model      ${(best.direct * 1000).toFixed(1)} ms`);
  console.log(`ratio in-process / stream alone: ${(best.direct / best.stream).toFixed(3)} (a remote predict can do no better)`);
  kiln.close();
}
