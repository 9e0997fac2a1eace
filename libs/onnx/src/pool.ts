import { NonFiniteInputError, NotTreeEnsembleError, OnnxFormatError, OnnxPoolError, OnnxRunError, trimMessage } from "./errors.js";
import { Lru } from "./lru.js";
import { onnxModelKey } from "./model-key.js";
import type { OnnxFeeds } from "./columns-feed.js";
import { copyOf, packForTransfer, type OnnxTensorMap } from "./tensor-data.js";
import type { WorkerReply } from "./worker-protocol.js";
import { WorkerSlot } from "./worker-slot.js";
import type { TreeEnsemble, TreeReading } from "./tree-ensemble.js";
import type { TreeShapValues } from "./tree-shap.js";
import { defaultWorkerUrl } from "./worker-url.js";

export interface OnnxWorkerPoolOptions {
  /** Most worker threads at once; they start on demand. Default 1. */
  size?: number;
  /** Sessions each worker keeps, least recently used released first. Default 4. */
  cacheSize?: number;
  /** onnxruntime's intra-op threads per session; its default uses every core, too many when size > 1. */
  intraOpNumThreads?: number;
  /**
   * Most rows per onnxruntime call: feeds with more (their first dimension, the same in
   * every feed) run in pieces of this many rows, the outputs joined along the rows. For
   * callers whose models treat rows independently, as every predict does; pieces that fit
   * the CPU's caches run faster. A model that refuses a piece (made for a fixed number of
   * rows), or whose outputs do not keep one row per input row, runs on all the rows at once.
   * Default: no pieces.
   */
  rowsPerRun?: number;
  /** The worker script; defaults to the one shipped with this package. */
  workerUrl?: URL;
}

/**
 * onnxruntime in worker threads, so loading and running models never blocks the caller's event loop.
 * Models are named by their bytes or, once the pool has seen them, by `onnxModelKey(bytes)`.
 */
export class OnnxWorkerPool {
  readonly size: number;
  private readonly cacheSize: number;
  private readonly intraOpNumThreads?: number;
  private readonly rowsPerRun?: number;
  private readonly workerUrl: URL;
  private readonly slots: WorkerSlot[] = [];
  // References to bytes the caller passed (no copy), so a key-only run can load the model on any worker.
  private readonly models: Lru<string, Uint8Array>;
  /** Pinned models: their bytes, and how many pinned them. */
  private readonly pins = new Map<string, { bytes: Uint8Array; count: number }>();
  private closed = false;

  constructor(options: OnnxWorkerPoolOptions = {}) {
    this.size = options.size ?? 1;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`pool size must be a positive integer, got ${this.size}`);
    this.cacheSize = options.cacheSize ?? 4;
    this.intraOpNumThreads = options.intraOpNumThreads;
    if (options.rowsPerRun !== undefined && !(Number.isInteger(options.rowsPerRun) && options.rowsPerRun > 0)) {
      throw new RangeError(`rowsPerRun must be a positive integer, got ${options.rowsPerRun}`);
    }
    this.rowsPerRun = options.rowsPerRun;
    this.workerUrl = options.workerUrl ?? defaultWorkerUrl();
    this.models = new Lru(this.cacheSize);
  }

  /** Resolves if onnxruntime can create a session from `bytes`; rejects with OnnxFormatError if not. */
  async check(bytes: Uint8Array): Promise<void> {
    const model = bytes.slice();
    const reply = await this.slotFor().request({ kind: "check", bytes: model }, [model.buffer]);
    if (!reply.ok) throw replyError(reply);
  }

  /**
   * Runs a model given by its bytes or by `onnxModelKey(bytes)` of bytes passed before; outputs are keyed by name.
   * Bytes are hashed on the calling thread on every call, so repeated calls on a large model should pass the key.
   * The pool keeps a reference to the bytes (no copy): do not modify them afterwards.
   * Feeds are copied before they cross to the worker, except those whose data is in a
   * SharedArrayBuffer: those cross as they are, so leave them unchanged until the run settles.
   * That includes a matrix given as columns all in shared memory, which the worker lays out.
   */
  async run(model: Uint8Array | string, feeds: OnnxFeeds, outputNames?: string[]): Promise<OnnxTensorMap> {
    const key = typeof model === "string" ? model : onnxModelKey(model);
    if (typeof model !== "string") this.models.set(key, model);
    const bytes = this.pins.get(key)?.bytes ?? this.models.get(key);
    const slot = this.slotFor(key);
    let reply = await this.send(slot, key, slot.models.get(key) ? undefined : bytes, feeds, outputNames);
    if (!reply.ok && reply.failure === "miss") {
      if (!bytes) throw new OnnxPoolError(`model ${key} is not loaded in the pool: pass its bytes to run()`);
      reply = await this.send(slot, key, bytes, feeds, outputNames);
    }
    if (!reply.ok) throw replyError(reply);
    return reply.outputs ?? {};
  }

  /** readTreeEnsemble on a worker, so a large forest's decoding does not hold up the caller: its arrays come back in shared memory. */
  async readTrees(bytes: Uint8Array, input: string, output: string): Promise<TreeReading> {
    const model = copyOf(bytes);
    const reply = await this.slotFor().request({ kind: "readTrees", bytes: model, input, output }, [model.buffer as ArrayBuffer]);
    if (!reply.ok) throw replyError(reply);
    return reply.trees!;
  }

  /**
   * treeShap on a worker (it takes CPU time in proportion to rows × background rows × the
   * nodes where they part): split the rows over calls to use several workers.
   */
  async treeShap(ensemble: TreeEnsemble, rows: Float64Array, count: number, background: Float64Array, width: number): Promise<TreeShapValues> {
    const reply = await this.slotFor().request({ kind: "treeShap", ensemble, rows, count, background, width });
    if (!reply.ok) throw replyError(reply);
    return reply.shap!;
  }

  /**
   * Stops every worker; calls in flight and calls after this reject with OnnxPoolError at once.
   * Resolves when the workers have ended, each after the run it had under way.
   */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.close(new OnnxPoolError("OnnxWorkerPool was closed"))));
  }

  private send(slot: WorkerSlot, key: string, bytes: Uint8Array | undefined, feeds: OnnxFeeds, outputNames?: string[]) {
    const packed = packForTransfer(feeds);
    const model = bytes && copyOf(bytes); // transferred: the caller's bytes stay usable (a Buffer's slice() would share them)
    if (model) slot.models.set(key, true);
    const transfer = model ? [...packed.transfer, model.buffer as ArrayBuffer] : packed.transfer;
    return slot.request({ kind: "run", key, bytes: model, feeds: packed.tensors, outputNames, pin: this.pins.has(key) }, transfer);
  }

  /**
   * Keeps a model's sessions loaded, on every worker that runs it, whatever else runs:
   * for models that answer online requests, which a reload would hold up. Pins count;
   * each pin needs its unpin. `key` is `onnxModelKey(bytes)`.
   */
  pin(key: string, bytes: Uint8Array): void {
    const pinned = this.pins.get(key);
    if (pinned) pinned.count++;
    else this.pins.set(key, { bytes, count: 1 });
  }

  /** Undoes a pin; once none is left the model's sessions go least recently used first again. */
  unpin(key: string): void {
    const pinned = this.pins.get(key);
    if (!pinned || --pinned.count > 0) return;
    this.pins.delete(key);
    for (const slot of this.slots) void slot.request({ kind: "unpin", key }).catch(() => {}); // a worker gone has nothing pinned
  }

  // The least busy worker, preferring one that has the model; a new worker while under `size` and all are busy.
  private slotFor(key?: string): WorkerSlot {
    if (this.closed) throw new OnnxPoolError("OnnxWorkerPool is closed");
    const ranked = [...this.slots].sort((a, b) => a.load - b.load || Number(hasModel(b, key)) - Number(hasModel(a, key)));
    const best = ranked[0];
    if (best && (best.load === 0 || this.slots.length >= this.size)) return best;
    const slot = new WorkerSlot(
      this.workerUrl,
      { cacheSize: this.cacheSize, intraOpNumThreads: this.intraOpNumThreads, rowsPerRun: this.rowsPerRun },
      (dead) => this.forget(dead),
    );
    this.slots.push(slot);
    return slot;
  }

  // A dead worker is dropped, and the next call that needs one starts a fresh worker.
  private forget(dead: WorkerSlot): void {
    const i = this.slots.indexOf(dead);
    if (i >= 0) this.slots.splice(i, 1);
  }
}

function hasModel(slot: WorkerSlot, key: string | undefined): boolean {
  return key !== undefined && slot.models.has(key);
}

function replyError(reply: Extract<WorkerReply, { ok: false }>): Error {
  const message = trimMessage(reply.message);
  if (reply.failure === "non_finite" && reply.nonFinite) return new NonFiniteInputError(reply.nonFinite.column, reply.nonFinite.row, reply.nonFinite.value);
  if (reply.failure === "not_trees") return new NotTreeEnsembleError(reply.message);
  return reply.failure === "format" ? new OnnxFormatError(`onnxruntime cannot load the model: ${message}`) : new OnnxRunError(message);
}
