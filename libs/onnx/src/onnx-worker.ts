// Worker thread entry: owns onnxruntime sessions, whose creation and runs block the thread they are on.
import { parentPort, workerData } from "node:worker_threads";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { BufferPool } from "./buffer-pool.js";
import { isColumnsFeed, matrixFromColumns, type OnnxFeed, type OnnxFeeds } from "./columns-feed.js";
import { NonFiniteInputError, NotTreeEnsembleError } from "./errors.js";
import { commonRows, joinRows, keepsRows, sliceRows } from "./row-pieces.js";
import { MISS, ModelLoadError, SessionCache } from "./session-cache.js";
import { sharedBufferOf, type OnnxTensorData, type OnnxTensorMap } from "./tensor-data.js";
import { readTreeEnsemble } from "./tree-ensemble.js";
import { treeShap } from "./tree-shap.js";
import type { WorkerConfig, WorkerReply, WorkerRequest } from "./worker-protocol.js";

const port = parentPort!;
const config = workerData as WorkerConfig;
const sessionOptions: InferenceSession.SessionOptions = config.intraOpNumThreads ? { intraOpNumThreads: config.intraOpNumThreads } : {};
const sessions = new SessionCache(config.cacheSize, (bytes) => InferenceSession.create(bytes, sessionOptions));
/** This thread's copies of feeds in shared memory, reused run after run. */
const copies = new BufferPool((bytes) => new ArrayBuffer(bytes), 8, 256 * 1024 ** 2);

/** Requests being handled: a close waits for them. */
const underWay = new Set<Promise<void>>();

port.on("message", (request: WorkerRequest) => {
  if (request.kind === "close") {
    void close();
    return;
  }
  const handled = handle(request).then(({ reply, transfer }) => post(reply, transfer));
  underWay.add(handled);
  void handled.finally(() => underWay.delete(handled));
});

// The thread ends on its own once the port is closed. Terminating it from outside during a
// session's run aborts the whole process: the binding's answer meets a stopped V8 and throws
// a C++ exception nothing catches.
async function close(): Promise<void> {
  port.removeAllListeners("message");
  await Promise.allSettled(underWay);
  await sessions.releaseAll();
  port.close();
}

// Outputs may share a buffer or hold one that cannot be transferred; copying is slower but always works.
function post(reply: WorkerReply, transfer: ArrayBuffer[]): void {
  try {
    port.postMessage(reply, [...new Set(transfer)]);
  } catch {
    port.postMessage(reply);
  }
}

async function handle(request: Exclude<WorkerRequest, { kind: "close" }>): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  const { id } = request;
  try {
    if (request.kind === "check") {
      await checkLoads(request.bytes);
      return { reply: { id, ok: true }, transfer: [] };
    }
    if (request.kind === "unpin") {
      sessions.unpin(request.key);
      return { reply: { id, ok: true }, transfer: [] };
    }
    if (request.kind === "readTrees") {
      // The ensemble's arrays are in shared memory: they cross back without a copy.
      return { reply: { id, ok: true, trees: readTreeEnsemble(request.bytes, request.input, request.output) }, transfer: [] };
    }
    if (request.kind === "treeShap") {
      const shap = treeShap(request.ensemble, request.rows, request.count, request.background, request.width);
      return { reply: { id, ok: true, shap }, transfer: [shap.values.buffer as ArrayBuffer, shap.sums.buffer as ArrayBuffer] };
    }
    const outputs = await sessions.use(request.key, request.bytes, (session) => run(session, request.feeds, request.outputNames), request.pin);
    if (outputs === MISS) return { reply: { id, ok: false, failure: "miss", message: `no session for ${request.key}` }, transfer: [] };
    return { reply: { id, ok: true, outputs: outputs.tensors }, transfer: outputs.transfer };
  } catch (err) {
    if (err instanceof NonFiniteInputError) {
      return { reply: { id, ok: false, failure: "non_finite", message: err.message, nonFinite: { column: err.column, row: err.row, value: err.value } }, transfer: [] };
    }
    const failure = err instanceof ModelLoadError ? "format" : err instanceof NotTreeEnsembleError ? "not_trees" : "run";
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

async function run(session: InferenceSession, feeds: OnnxFeeds, outputNames?: string[]) {
  const taken: ArrayBuffer[] = [];
  try {
    const owned: OnnxTensorMap = Object.fromEntries(Object.entries(feeds).map(([name, feed]) => [name, ownedData(feed, taken)]));
    const tensors = await runInRowPieces(session, owned, outputNames);
    const transfer = Object.values(tensors).flatMap((t) => (Array.isArray(t.data) ? [] : [t.data.buffer as ArrayBuffer]));
    return { tensors, transfer };
  } finally {
    for (const buffer of taken) copies.give(buffer);
  }
}

/**
 * With `rowsPerRun`, feeds of more rows run a piece of rows at a time and the outputs are
 * joined: a 64-64 MLP ran 1.7-2x faster per row in pieces of 8,192 rows than in one run of
 * 131,072, whose intermediate tensors (32 MiB each) spill out of the CPU's caches. A model
 * that refuses a piece, or whose outputs do not keep one row per input row, runs on all the
 * rows at once.
 */
async function runInRowPieces(session: InferenceSession, feeds: OnnxTensorMap, outputNames?: string[]): Promise<OnnxTensorMap> {
  const rows = commonRows(feeds);
  const perRun = config.rowsPerRun;
  if (!perRun || rows === undefined || rows <= perRun) return runOnce(session, feeds, outputNames);
  const pieces: OnnxTensorMap[] = [];
  for (let at = 0; at < rows; at += perRun) {
    const to = Math.min(rows, at + perRun);
    const piece = runOnce(session, sliceRows(feeds, at, to), outputNames);
    // A model made for a fixed number of rows refuses a piece: it gets them all, as it would without pieces.
    const outputs = at === 0 ? await piece.catch(() => undefined) : await piece;
    if (!outputs || !keepsRows(outputs, to - at)) return runOnce(session, feeds, outputNames);
    pieces.push(outputs);
  }
  return joinRows(pieces) ?? runOnce(session, feeds, outputNames);
}

async function runOnce(session: InferenceSession, feeds: OnnxTensorMap, outputNames?: string[]): Promise<OnnxTensorMap> {
  const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new Tensor(t.type, t.data, t.dims)]));
  const results = outputNames ? await session.run(ortFeeds, outputNames) : await session.run(ortFeeds);
  const tensors: OnnxTensorMap = {};
  for (const [name, t] of Object.entries(results)) tensors[name] = { type: t.type, dims: [...t.dims], data: t.data } as OnnxTensorData;
  return tensors;
}

/**
 * The feed as onnxruntime-node takes it, in memory of this thread's when it has to be: a
 * matrix given as columns is laid out here, and a tensor in shared memory (which
 * onnxruntime-node refuses) is copied here, off the caller's thread.
 */
function ownedData(feed: OnnxFeed, taken: ArrayBuffer[]): OnnxTensorData {
  if (isColumnsFeed(feed)) {
    const [rows, width] = feed.dims;
    const Matrix = feed.type === "float32" ? Float32Array : Float64Array;
    return matrixFromColumns(feed, new Matrix(take(rows * width * Matrix.BYTES_PER_ELEMENT, taken)));
  }
  if (Array.isArray(feed.data) || !sharedBufferOf(feed.data)) return feed;
  const source = feed.data as Exclude<OnnxTensorData["data"], unknown[]>;
  const copy = new (source.constructor as new (b: ArrayBuffer, offset: number, length: number) => typeof source)(take(source.byteLength, taken), 0, source.length);
  copy.set(source as never);
  return { ...feed, data: copy } as OnnxTensorData;
}

function take(bytes: number, taken: ArrayBuffer[]): ArrayBuffer {
  const buffer = copies.take(bytes);
  taken.push(buffer);
  return buffer;
}
