import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client, type Transport } from "@connectrpc/connect";
import { createMemoryBus, type BusMessage, type EventBus, type Subscription } from "@kiln/bus";
import { createLogger, errorInterceptor, errorReason, loadConfig } from "@kiln/core";
import { linearRegressorOnnx, startOnnxCheck } from "@kiln/onnx";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import {
  ExecutorService,
  JobEventSchema,
  JobKind,
  JobSchema,
  QueuedJobSchema,
  RuntimeService,
  type Job,
  type JobEvent,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { ScheduleService } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { WebhookService } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import * as registry from "@kiln/registry";
import { Kiln } from "@kiln/sdk";
import { openFsBlobStore, openSqliteMetadataStore, type BlobStore, type Collection, type MetadataStore } from "@kiln/storage";
import * as store from "@kiln/store";
import { QUEUE_STREAM, TEMPORARY_INPUT_LABEL, TRAINABLE_ATTACHMENT, TRAINABLE_FORMAT } from "@kiln/contracts";
import { prepareScheduler, register, type SchedulerDeps } from "../src/index.js";
import type { Scheduler } from "../src/job-store.js";

export const PROJECT = "projects/default";

/** A clock that follows real time, moved forward by the test when it needs to be. */
export class TestClock {
  private offsetMs = 0;
  private frozenAt: number | undefined;
  now = (): Date => new Date((this.frozenAt ?? Date.now()) + this.offsetMs);
  advance(ms: number): void {
    this.offsetMs += ms;
  }
  /** Stops the clock at this time (advance still moves it). */
  freeze(at: Date): void {
    this.frozenAt = at.getTime();
    this.offsetMs = 0;
  }
}

export interface Harness {
  dir: string;
  bus: EventBus;
  clock: TestClock;
  /** The scheduler's own metadata store (separate from the store's and the registry's). */
  metadata: MetadataStore;
  /** SDK on the store and the registry, to make datasets and models. */
  kiln: Kiln;
  store: Client<typeof StoreService>;
  registry: Client<typeof RegistryService>;
  runtime: Client<typeof RuntimeService>;
  executor: Client<typeof ExecutorService>;
  schedules: Client<typeof ScheduleService>;
  webhooks: Client<typeof WebhookService>;
  /** The scheduler behind `runtime` and `executor`, for what it does outside calls (sweeps, restarts). */
  scheduler: Scheduler;
  /** A second scheduler process on the same metadata and bus (its own watchers), as when several run. */
  anotherScheduler(): Promise<{ runtime: Client<typeof RuntimeService>; executor: Client<typeof ExecutorService> }>;
  close(): Promise<void>;
}

/**
 * Real embedded parts: SQLite metadata and fs blobs in a temp folder, the in-process bus,
 * the store and the registry in-process behind a router transport (as in embedded mode),
 * and the scheduler on its own router transport with the same error interceptor as a server.
 */
export interface HarnessOptions {
  settings?: Partial<SchedulerDeps["settings"]>;
  /** The bus as the scheduler sees it (e.g. one whose publishes fail); everything else uses the real one. */
  schedulerBus?: (bus: EventBus) => EventBus;
  /** The metadata store as the scheduler sees it (e.g. one whose reads the test holds back). */
  schedulerMetadata?: (metadata: MetadataStore) => MetadataStore;
  /** The store's client as the scheduler sees it (e.g. one whose deletes fail for a while). */
  schedulerStore?: (store: Client<typeof StoreService>) => Client<typeof StoreService>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-runtime-"));
  const bus = createMemoryBus();
  const config = loadConfig({});
  const logger = createLogger("test", "silent");
  const blobs: BlobStore[] = [openFsBlobStore(join(dir, "store-blobs")), openFsBlobStore(join(dir, "registry-blobs"))];
  const metadatas: MetadataStore[] = [
    openSqliteMetadataStore(join(dir, "store.sqlite")),
    openSqliteMetadataStore(join(dir, "registry.sqlite")),
    openSqliteMetadataStore(join(dir, "runtime.sqlite")),
  ];
  const storeDeps: store.StoreDeps = { metadata: metadatas[0]!, blobs: blobs[0]!, bus, logger, limits: config.limits };
  const registryDeps: registry.RegistryDeps = {
    metadata: metadatas[1]!,
    blobs: blobs[1]!,
    bus,
    logger,
    limits: config.limits,
    spoolDir: join(dir, "spool"),
    startOnnxCheck: () => startOnnxCheck(),
  };
  await store.prepareStore(storeDeps);
  await registry.prepareRegistry(registryDeps);
  const platform: Transport = createRouterTransport(
    (router) => {
      store.register(router, storeDeps);
      registry.register(router, registryDeps);
    },
    { router: { interceptors: [errorInterceptor(logger)], readMaxBytes: config.limits.maxMessageBytes } },
  );
  const clock = new TestClock();
  const storeClient = createClient(StoreService, platform);
  const registryClient = createClient(RegistryService, platform);
  const schedulerDeps: SchedulerDeps = {
    metadata: options.schedulerMetadata?.(metadatas[2]!) ?? metadatas[2]!,
    bus: options.schedulerBus?.(bus) ?? bus,
    logger,
    store: options.schedulerStore?.(storeClient) ?? storeClient,
    registry: registryClient,
    settings: { ...config.runtime, ...options.settings },
    now: clock.now,
  };
  const schedulerTransport = async () => {
    const scheduler = await prepareScheduler(schedulerDeps);
    return { scheduler, transport: createRouterTransport((router) => register(router, scheduler), { router: { interceptors: [errorInterceptor(logger)] } }) };
  };
  const { scheduler, transport: runtimeTransport } = await schedulerTransport();
  const kiln = await Kiln.connect({ transport: platform, writeMode: "stream" });
  return {
    dir,
    bus,
    clock,
    metadata: metadatas[2]!,
    kiln,
    store: storeClient,
    registry: registryClient,
    runtime: createClient(RuntimeService, runtimeTransport),
    executor: createClient(ExecutorService, runtimeTransport),
    schedules: createClient(ScheduleService, runtimeTransport),
    webhooks: createClient(WebhookService, runtimeTransport),
    scheduler,
    async anotherScheduler() {
      const { transport } = await schedulerTransport();
      return { runtime: createClient(RuntimeService, transport), executor: createClient(ExecutorService, transport) };
    },
    async close() {
      kiln.close();
      await bus.close();
      for (const b of blobs) await b.close();
      for (const m of metadatas) await m.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The bus as a scheduler sees it when queue publishes for which `fails` says so throw (as when JetStream is down). */
export function failingQueuePublishes(fails: () => boolean): (bus: EventBus) => EventBus {
  return (bus) => ({
    ensureStream: (c) => bus.ensureStream(c),
    subscribe: (c) => bus.subscribe(c),
    deleteConsumer: (s, d) => bus.deleteConsumer(s, d),
    respond: (s, q, handler) => bus.respond(s, q, handler),
    request: (s, data, options) => bus.request(s, data, options),
    close: () => bus.close(),
    async publish(subject, data, options) {
      if (subject.startsWith("kiln.runtime.v1.queue.") && fails()) throw new Error("bus unavailable");
      return bus.publish(subject, data, options);
    },
  });
}

export function uniqueName(prefix = "t"): string {
  return `${prefix}_${Math.random().toString(36).slice(2, 10)}`;
}

/** A table dataset with a few rows; its full name. */
export async function makeDataset(h: Harness, rows: Record<string, number>[] = [{ a: 1, b: 2 }, { a: 3, b: 4 }], name = uniqueName("ds")): Promise<string> {
  await h.kiln.datasets.put(name, rows);
  return `${PROJECT}/datasets/${name}`;
}

/** A dataset made as a job's temporary input (labelled as the SDK labels local data), which a job may mark temporary. */
export async function makeTemporaryDataset(h: Harness, rows: Record<string, number>[] = [{ a: 1, b: 2 }, { a: 3, b: 4 }]): Promise<string> {
  const name = uniqueName("tmp");
  await h.kiln.datasets.put(name, rows, { labels: { [TEMPORARY_INPUT_LABEL]: "true" } });
  return `${PROJECT}/datasets/${name}`;
}

/** An uploaded ONNX model (runnable, not trainable); the model's full name. */
export async function makeOnnxModel(h: Harness, name = uniqueName("m")): Promise<string> {
  await h.kiln.models.put(name, linearRegressorOnnx([1, 2], 0.5), { format: "onnx" });
  return `${PROJECT}/models/${name}`;
}

/** A model holding kiln.ml trainable state (format kiln-ml: trainable, not runnable); the model's full name. */
export async function makeTrainableModel(h: Harness, name = uniqueName("m")): Promise<string> {
  await h.kiln.models.put(name, new TextEncoder().encode(JSON.stringify({ format: "kiln.ml/v1", kind: "LinearRegression", params: {}, state: null })), { format: TRAINABLE_FORMAT });
  return `${PROJECT}/models/${name}`;
}

/** An ONNX model with a trainable-state attachment: both runnable and trainable. */
export async function makeRunnableTrainableModel(h: Harness, name = uniqueName("m")): Promise<string> {
  await h.kiln.models.put(name, linearRegressorOnnx([1, 2], 0.5), {
    format: "onnx",
    attachments: { [TRAINABLE_ATTACHMENT]: new TextEncoder().encode("{}") },
  });
  return `${PROJECT}/models/${name}`;
}

/** The scheduler's metadata with methods of its runtime_jobs collection replaced (`replace` is given the real collection). */
export function withJobRecords(metadata: MetadataStore, replace: <T>(records: Collection<T>) => Partial<Collection<T>>): MetadataStore {
  return {
    close: () => metadata.close(),
    collection<T>(name: string): Collection<T> {
      const records = metadata.collection<T>(name);
      if (name !== "runtime_jobs") return records;
      const replaced: Partial<Collection<T>> = replace(records);
      return new Proxy(records, {
        get(target, prop) {
          const v = (prop in replaced ? replaced[prop as keyof Collection<T>] : Reflect.get(target, prop)) as unknown;
          return typeof v === "function" && !(prop in replaced) ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    },
  };
}

/** Submits a NOOP job (no model, no inputs) with the given fields. */
export type JobInit = MessageInitShape<typeof JobSchema>;

export async function submitNoop(h: Harness, job: JobInit = {}, requestId = ""): Promise<Job> {
  const { job: made } = await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.NOOP, ...job }, requestId });
  return made!;
}

export async function failure(p: Promise<unknown>): Promise<{ code: Code; reason?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ConnectError)) throw e;
    const ce = e;
    return { code: ce.code, reason: errorReason(ce), message: ce.rawMessage };
  }
  throw new Error("expected the call to fail");
}

const QUIET = Symbol("quiet");

/**
 * Reads a subscription or a stream one item at a time. A read that timed out stays
 * pending and is reused by the next read, so nothing is pulled into a read nobody awaits.
 */
export class Reader<T> {
  private readonly iter: AsyncIterator<T>;
  private pending: Promise<IteratorResult<T>> | undefined;

  constructor(source: AsyncIterable<T>) {
    this.iter = source[Symbol.asyncIterator]();
  }

  /** The next item; fails after timeoutMs (a bound, not a wait: it returns as soon as one arrives). */
  async take(timeoutMs = 10_000): Promise<T> {
    const r = await this.race(timeoutMs);
    if (r === QUIET) throw new Error(`nothing within ${timeoutMs} ms`);
    if (r.done) throw new Error("the stream ended");
    return r.value;
  }

  /** Resolves once the stream ends; fails if an item arrives instead. */
  async end(timeoutMs = 10_000): Promise<void> {
    const r = await this.race(timeoutMs);
    if (r === QUIET) throw new Error(`the stream did not end within ${timeoutMs} ms`);
    if (!r.done) throw new Error("expected the end of the stream, got an item");
  }

  private async race(ms: number): Promise<IteratorResult<T> | typeof QUIET> {
    this.pending ??= this.iter.next();
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<typeof QUIET>((resolve) => (timer = setTimeout(() => resolve(QUIET), ms)));
    try {
      const r = await Promise.race([this.pending, quiet]);
      if (r !== QUIET) this.pending = undefined;
      return r;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** What an executor does first: take a queue's messages through the queue's shared durable. */
export async function pullQueue(bus: EventBus, queue: { subject: string; consumer: string }): Promise<{ sub: Subscription; reader: Reader<BusMessage> }> {
  const sub = await bus.subscribe({ stream: QUEUE_STREAM.name, durable: queue.consumer, filterSubject: queue.subject, deliverPolicy: "all" });
  return { sub, reader: new Reader(sub) };
}

export function queuedJobName(msg: BusMessage): string {
  return fromBinary(QueuedJobSchema, msg.data).name;
}

/**
 * Every job event published so far, in order. A marker published last bounds the read,
 * so it needs no idle wait: everything before the marker is all there is.
 */
export async function eventsSoFar(bus: EventBus): Promise<{ subject: string; event: JobEvent }[]> {
  const marker = `kiln.runtime.v1.job.marker_${Math.random().toString(36).slice(2)}`;
  await bus.publish(marker, new Uint8Array());
  // The stream by its contract name (one stream per service), not by the constant under test.
  const sub = await bus.subscribe({ stream: "KILN_RUNTIME", durable: uniqueName("events"), deliverPolicy: "all" });
  const out: { subject: string; event: JobEvent }[] = [];
  const reader = new Reader(sub);
  try {
    for (;;) {
      const msg = await reader.take();
      msg.ack();
      if (msg.subject === marker) return out;
      if (msg.subject.startsWith("kiln.runtime.v1.job.marker_") || !msg.subject.startsWith("kiln.runtime.v1.job.")) continue;
      out.push({ subject: msg.subject, event: fromBinary(JobEventSchema, msg.data) });
    }
  } finally {
    await sub.stop();
  }
}

/** Every message on the job queues so far (any subject), by the same marker trick; leaves no consumer behind. */
export async function queueMessagesSoFar(bus: EventBus): Promise<BusMessage[]> {
  const marker = `kiln.runtime.v1.queue.marker_${Math.random().toString(36).slice(2)}`;
  await bus.publish(marker, new Uint8Array());
  const durable = uniqueName("peek");
  const sub = await bus.subscribe({ stream: QUEUE_STREAM.name, durable, deliverPolicy: "all" });
  const out: BusMessage[] = [];
  const reader = new Reader(sub);
  try {
    for (;;) {
      const msg = await reader.take();
      if (msg.subject === marker) {
        msg.ack();
        return out;
      }
      // Neither acked nor nakked: a peek must not take work off the queue, and a nak would
      // redeliver it to this same reader at once. The consumer is deleted below, which
      // leaves the message to the executors' consumer.
      if (!out.some((m) => m.seq === msg.seq)) out.push(msg);
    }
  } finally {
    await sub.stop();
    await bus.deleteConsumer(QUEUE_STREAM.name, durable);
  }
}

/** Polls the job until `done` holds (settling runs after the change that ended the job before), for up to 5 s. */
export async function untilJob(h: Harness, name: string, done: (job: Job) => boolean): Promise<Job> {
  const read = async () => (await h.runtime.getJob({ name })).job!;
  for (let i = 0; i < 500; i++) {
    const job = await read();
    if (done(job)) return job;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`job ${name} never got there: ${JSON.stringify(await read())}`);
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
