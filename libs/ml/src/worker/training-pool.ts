import { Worker } from "node:worker_threads";
import type { TrainingCallback } from "../estimator.js";
import { InvalidInputError, MLError, ModelFormatError, NotFittedError } from "../errors.js";
import type { LabelInput } from "../labels.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import type { SerializedModel } from "../serialize.js";
import type { TrainingReply, TrainingRequest } from "./protocol.js";

export interface TrainingPoolOptions {
  /** Worker threads (default 1: training uses a whole core each). */
  size?: number;
}

export interface TrainOptions {
  onEpoch?: TrainingCallback;
}

interface Pending {
  resolve(model: SerializedModel): void;
  reject(e: Error): void;
  onEpoch?: TrainingCallback;
  worker: Worker;
}

type RequestBody = TrainingRequest extends infer R ? (R extends TrainingRequest ? Omit<R, "id"> : never) : never;

/**
 * Fits estimators on worker threads, so a server (the executor) stays responsive while
 * training runs. Jobs queue per worker; a worker that dies fails its jobs and is replaced.
 */
export class TrainingPool {
  private readonly workers: Worker[] = [];
  private readonly load = new Map<Worker, number>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly options: TrainingPoolOptions = {}) {}

  /** Fits a new estimator of `kind` with `params`; resolves with the fitted model (toJSON form). */
  fit(kind: string, params: Record<string, unknown>, X: MatrixInput, y?: LabelInput, options: TrainOptions = {}): Promise<SerializedModel> {
    return this.submit({ op: "fit", kind, params, X: message(X), y: y && Array.from(y as ArrayLike<number | string>) }, options);
  }

  /**
   * Fits anew an estimator shaped like `model` (a fitted model's structure, such as a
   * Pipeline's steps, which no kind and params can describe), with `params` set first.
   */
  refit(model: SerializedModel, params: Record<string, unknown>, X: MatrixInput, y?: LabelInput, options: TrainOptions = {}): Promise<SerializedModel> {
    return this.submit({ op: "refit", model, params, X: message(X), y: y && Array.from(y as ArrayLike<number | string>) }, options);
  }

  /** Continues a fitted model on one more batch (sklearn's partial_fit). */
  partialFit(model: SerializedModel, X: MatrixInput, y?: LabelInput, options: TrainOptions & { classes?: (number | string)[] } = {}): Promise<SerializedModel> {
    return this.submit({ op: "partialFit", model, X: message(X), y: y && Array.from(y as ArrayLike<number | string>), classes: options.classes }, options);
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0);
    await Promise.all(workers.map((w) => w.terminate()));
    for (const p of this.pending.values()) p.reject(new MLError("the training pool was closed", "POOL_CLOSED"));
    this.pending.clear();
  }

  private submit(body: RequestBody, options: TrainOptions): Promise<SerializedModel> {
    if (this.closed) return Promise.reject(new MLError("the training pool is closed", "POOL_CLOSED"));
    const id = this.nextId++;
    const worker = this.pickWorker();
    return new Promise<SerializedModel>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onEpoch: options.onEpoch, worker });
      this.load.set(worker, (this.load.get(worker) ?? 0) + 1);
      worker.ref();
      const request = { ...body, id } as TrainingRequest;
      worker.postMessage(request, [request.X.data.buffer as ArrayBuffer]);
    });
  }

  private pickWorker(): Worker {
    const size = Math.max(1, this.options.size ?? 1);
    if (this.workers.length < size) return this.spawn();
    return this.workers.reduce((a, b) => ((this.load.get(a) ?? 0) <= (this.load.get(b) ?? 0) ? a : b));
  }

  private spawn(): Worker {
    const worker = new Worker(workerUrl());
    worker.unref();
    this.workers.push(worker);
    worker.on("message", (reply: TrainingReply) => this.onReply(worker, reply));
    worker.on("error", (e) => this.failWorker(worker, e));
    worker.on("exit", (code) => this.failWorker(worker, new MLError(`a training worker exited (code ${code})`, "WORKER_EXITED")));
    return worker;
  }

  private onReply(worker: Worker, reply: TrainingReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    if (reply.type === "progress") return p.onEpoch?.({ epoch: reply.epoch, loss: reply.loss, metrics: reply.metrics });
    this.pending.delete(reply.id);
    const left = (this.load.get(worker) ?? 1) - 1;
    this.load.set(worker, left);
    if (left === 0) worker.unref();
    if (reply.type === "done") p.resolve(reply.model);
    else p.reject(rebuildError(reply));
  }

  private failWorker(worker: Worker, e: Error): void {
    const i = this.workers.indexOf(worker);
    if (i < 0) return;
    this.workers.splice(i, 1);
    this.load.delete(worker);
    for (const [id, p] of this.pending) {
      if (p.worker !== worker) continue;
      this.pending.delete(id);
      p.reject(e);
    }
  }
}

function message(X: MatrixInput) {
  const m = toMatrix(X, { allowNaN: true }); // the estimator in the worker decides what it accepts
  return { data: m.data, rows: m.rows, cols: m.cols, columns: m.columns };
}

/** Errors cross the thread boundary as data; give callers the same types as in-process. */
function rebuildError(reply: Extract<TrainingReply, { type: "error" }>): Error {
  const reason = reply.reason ?? "TRAINING_FAILED";
  switch (reply.name) {
    case "InvalidInputError":
      return new InvalidInputError(reply.message, reason);
    case "ModelFormatError":
      return new ModelFormatError(reply.message, reason);
    case "NotFittedError":
      return Object.assign(new NotFittedError(""), { message: reply.message });
    default:
      return new MLError(reply.message, reason);
  }
}

function workerUrl(): URL {
  // Under vitest this module runs from src/*.ts; a worker thread cannot run TypeScript, so it runs tsc's build.
  return import.meta.url.endsWith(".ts") ? new URL("../../dist/worker/training-worker.js", import.meta.url) : new URL("./training-worker.js", import.meta.url);
}
