import { Worker } from "node:worker_threads";
import { OnnxPoolError, trimMessage } from "./errors.js";
import { Lru } from "./lru.js";
import type { WorkerConfig, WorkerReply, WorkerRequest } from "./worker-protocol.js";

const CLOSE_GRACE_MS = 30_000;

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
type Request = WithoutId<WorkerRequest>;

interface Pending {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

/** One worker thread and the calls waiting on it. */
export class WorkerSlot {
  /** Model keys this worker was sent bytes for; a guess, since the worker evicts on its own (a miss corrects it). */
  readonly models: Lru<string, true>;
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead = false;

  constructor(url: URL, config: WorkerConfig, onDeath: (slot: WorkerSlot) => void) {
    this.models = new Lru(config.cacheSize);
    this.worker = new Worker(url, { workerData: config });
    // Only waiting calls keep the process alive; an idle pool never holds it open.
    this.worker.unref();
    this.worker.on("message", (reply: WorkerReply) => this.settle(reply));
    let crash: Error | undefined;
    this.worker.on("error", (err) => (crash = err));
    this.worker.on("exit", (code) => {
      this.dead = true;
      const reason = crash ? `crashed: ${trimMessage(crash.message)}` : `exited with code ${code}`;
      this.failAll(new OnnxPoolError(`onnx worker ${reason}`));
      onDeath(this);
    });
  }

  get load(): number {
    return this.pending.size;
  }

  get alive(): boolean {
    return !this.dead;
  }

  request(request: Request, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    if (this.dead) return Promise.reject(new OnnxPoolError("onnx worker is gone"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...request, id }, transfer);
      } catch (err) {
        this.forget(id);
        reject(err as Error);
      }
    });
  }

  /**
   * Ends the thread once the work it has under way is done, or after `graceMs` by force;
   * waiting calls reject with `reason` at once. Forcing it during a session's run aborts the
   * process (see onnx-worker.ts), so the grace is long; the process stays alive meanwhile,
   * since exiting would force it too.
   */
  async close(reason: Error, graceMs = CLOSE_GRACE_MS): Promise<void> {
    this.failAll(reason);
    if (this.dead) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.ref();
    try {
      this.worker.postMessage({ kind: "close", id: 0 } satisfies WorkerRequest);
    } catch {
      await this.worker.terminate();
      return;
    }
    const force = setTimeout(() => void this.worker.terminate(), graceMs);
    await exited;
    clearTimeout(force);
  }

  private settle(reply: WorkerReply): void {
    const call = this.pending.get(reply.id);
    if (!call) return;
    this.forget(reply.id);
    call.resolve(reply);
  }

  private failAll(err: Error): void {
    for (const [id, call] of [...this.pending]) {
      this.forget(id);
      call.reject(err);
    }
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }
}
