// Worker thread entry: owns onnxruntime sessions, whose creation and runs block the thread they are on.
import { parentPort, workerData } from "node:worker_threads";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { BufferPool } from "./buffer-pool.js";
import { MISS, ModelLoadError, SessionCache } from "./session-cache.js";
import { sharedBufferOf, type OnnxTensorData, type OnnxTensorMap } from "./tensor-data.js";
import type { WorkerConfig, WorkerReply, WorkerRequest } from "./worker-protocol.js";

const port = parentPort!;
const config = workerData as WorkerConfig;
const sessionOptions: InferenceSession.SessionOptions = config.intraOpNumThreads ? { intraOpNumThreads: config.intraOpNumThreads } : {};
const sessions = new SessionCache(config.cacheSize, (bytes) => InferenceSession.create(bytes, sessionOptions));
/** This thread's copies of feeds in shared memory, reused run after run. */
const copies = new BufferPool((bytes) => new ArrayBuffer(bytes), 8, 256 * 1024 ** 2);

port.on("message", (request: WorkerRequest) => {
  void handle(request).then(({ reply, transfer }) => post(reply, transfer));
});

// Outputs may share a buffer or hold one that cannot be transferred; copying is slower but always works.
function post(reply: WorkerReply, transfer: ArrayBuffer[]): void {
  try {
    port.postMessage(reply, [...new Set(transfer)]);
  } catch {
    port.postMessage(reply);
  }
}

async function handle(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  const { id } = request;
  try {
    if (request.kind === "check") {
      await checkLoads(request.bytes);
      return { reply: { id, ok: true }, transfer: [] };
    }
    const outputs = await sessions.use(request.key, request.bytes, (session) => run(session, request.feeds, request.outputNames));
    if (outputs === MISS) return { reply: { id, ok: false, failure: "miss", message: `no session for ${request.key}` }, transfer: [] };
    return { reply: { id, ok: true, outputs: outputs.tensors }, transfer: outputs.transfer };
  } catch (err) {
    const failure = err instanceof ModelLoadError ? "format" : "run";
    return { reply: { id, ok: false, failure, message: (err as Error).message ?? String(err) }, transfer: [] };
  }
}

async function checkLoads(bytes: Uint8Array): Promise<void> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes, sessionOptions);
  } catch (err) {
    throw new ModelLoadError((err as Error).message);
  }
  await session.release();
}

async function run(session: InferenceSession, feeds: OnnxTensorMap, outputNames?: string[]) {
  const taken: ArrayBuffer[] = [];
  try {
    const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new Tensor(t.type, ownedData(t, taken), t.dims)]));
    const results = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
    const tensors: OnnxTensorMap = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(results)) {
      const data = t.data as OnnxTensorData["data"];
      if (!Array.isArray(data)) transfer.push(data.buffer as ArrayBuffer);
      tensors[name] = { type: t.type, dims: [...t.dims], data } as OnnxTensorData;
    }
    return { tensors, transfer };
  } finally {
    for (const buffer of taken) copies.give(buffer);
  }
}

/** onnxruntime-node refuses views of shared memory: such a feed is copied here, off the caller's thread. */
function ownedData(t: OnnxTensorData, taken: ArrayBuffer[]): OnnxTensorData["data"] {
  if (Array.isArray(t.data) || !sharedBufferOf(t.data)) return t.data;
  const source = t.data as Exclude<OnnxTensorData["data"], unknown[]>;
  const buffer = copies.take(source.byteLength);
  taken.push(buffer);
  const copy = new (source.constructor as new (b: ArrayBuffer, offset: number, length: number) => typeof source)(buffer, 0, source.length);
  copy.set(source as never);
  return copy;
}
