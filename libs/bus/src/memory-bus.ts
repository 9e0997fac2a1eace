import {
  streamMaxAgeMs,
  type BusOptions,
  type BusReply,
  type BusRequest,
  type ConsumerConfig,
  type EventBus,
  type PublishOptions,
  type RequestOptions,
  type Responder,
  type StreamConfig,
  type Subscription,
} from "./bus.js";
import { consumerSettings, type ConsumerSettings } from "./consumer-settings.js";
import {
  busClosed,
  consumerConflict,
  consumerNotFound,
  filterOutsideStream,
  noStreamForSubject,
  streamConflict,
  streamNotFound,
} from "./errors.js";
import { MemoryConsumer } from "./memory-consumer.js";
import { MemoryReplies } from "./memory-replies.js";
import { PayloadSpill } from "./payload-spill.js";
import { MemoryStream } from "./memory-stream.js";
import { MemorySubscription } from "./memory-subscription.js";
import { requestTimeoutMs } from "./request-reply.js";
import { checkName, checkStreamConfig, checkSubject, subjectsCollide } from "./subjects.js";

const MSG_ID_HEADER = "Nats-Msg-Id";

interface StreamEntry {
  stream: MemoryStream;
  consumers: Map<string, MemoryConsumer>;
}

export interface MemoryBusOptions extends BusOptions {
  /** A folder of this bus's own for large payloads (job results), kept there rather than in memory. */
  spillDir?: string;
  /** Payloads of at least this many bytes go to the spill folder (default 64 KiB). */
  spillAtBytes?: number;
}

/** An in-process bus with JetStream's semantics, for embedded mode and tests. Nothing survives the process. */
export function createMemoryBus(options: MemoryBusOptions = {}): EventBus {
  return new MemoryBus(options);
}

class MemoryBus implements EventBus {
  private readonly streams = new Map<string, StreamEntry>();
  private readonly spill: PayloadSpill | undefined;
  private readonly replies = new MemoryReplies();
  private closed = false;

  constructor(private readonly options: MemoryBusOptions) {
    this.spill = options.spillDir === undefined ? undefined : new PayloadSpill({ dir: options.spillDir, atBytes: options.spillAtBytes });
  }

  async ensureStream(given: StreamConfig): Promise<void> {
    this.checkOpen();
    checkStreamConfig(given);
    const config = { ...given, maxAgeMs: streamMaxAgeMs(given, this.options) };
    for (const [name, other] of this.streams) {
      if (name === config.name) continue;
      const clash = config.subjects.some((a) => other.stream.subjects.some((b) => subjectsCollide(a, b)));
      if (clash) throw streamConflict(config.name, `subjects overlap with stream ${name}`);
    }
    const existing = this.streams.get(config.name);
    if (!existing) {
      this.streams.set(config.name, { stream: new MemoryStream(config, this.spill), consumers: new Map() });
      return;
    }
    if ((config.retention ?? "limits") !== existing.stream.retention) {
      throw streamConflict(config.name, "retention cannot change");
    }
    existing.stream.subjects = [...config.subjects];
    existing.stream.maxAgeMs = config.maxAgeMs;
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<void> {
    this.checkOpen();
    checkSubject(subject, false);
    const entry = [...this.streams.values()].find((e) => e.stream.holds(subject));
    if (!entry) throw noStreamForSubject(subject);
    // JetStream takes the dedupe id from the Nats-Msg-Id header and keeps it on the stored message.
    const msgId = options.msgId ?? options.headers?.[MSG_ID_HEADER];
    const headers = msgId === undefined ? { ...options.headers } : { ...options.headers, [MSG_ID_HEADER]: msgId };
    if (!entry.stream.append(subject, data, headers, msgId)) return;
    for (const consumer of entry.consumers.values()) consumer.dispatch();
  }

  async subscribe(config: ConsumerConfig): Promise<Subscription> {
    this.checkOpen();
    const settings = consumerSettings(config);
    const entry = this.streams.get(settings.stream);
    if (!entry) throw streamNotFound(settings.stream);
    const { stream, consumers } = entry;
    const filter = settings.filterSubject;
    if (filter !== undefined && !stream.subjects.some((s) => subjectsCollide(s, filter))) {
      throw filterOutsideStream(stream.name, filter);
    }
    if (stream.retention === "workqueue") checkWorkQueue(settings, consumers);
    let consumer = consumers.get(settings.durable);
    if (consumer) {
      if (consumer.settings.deliverPolicy !== settings.deliverPolicy) {
        throw consumerConflict(stream.name, settings.durable, "deliver policy cannot change");
      }
      consumer.settings = settings;
    } else {
      consumer = new MemoryConsumer(stream, settings);
      consumers.set(settings.durable, consumer);
    }
    return new MemorySubscription(consumer);
  }

  async deleteConsumer(streamName: string, durable: string): Promise<void> {
    this.checkOpen();
    const entry = this.streams.get(streamName);
    if (!entry) throw streamNotFound(streamName);
    const consumer = entry.consumers.get(durable);
    if (!consumer) throw consumerNotFound(streamName, durable);
    entry.consumers.delete(durable);
    consumer.dispose();
  }

  async respond(subject: string, queue: string, handler: (request: BusRequest) => Promise<BusReply>): Promise<Responder> {
    this.checkOpen();
    checkSubject(subject, true);
    checkName("queue", queue);
    return this.replies.respond(subject, queue, handler);
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions = {}): Promise<BusReply> {
    this.checkOpen();
    checkSubject(subject, false);
    return this.replies.request(subject, data, options.headers ?? {}, requestTimeoutMs(options));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.replies.close();
    for (const { consumers } of this.streams.values()) {
      for (const consumer of consumers.values()) consumer.dispose();
    }
    this.spill?.close();
  }

  private checkOpen(): void {
    if (this.closed) throw busClosed();
  }
}

/** JetStream's work-queue rules: each subject has at most one consumer, and it starts at the first message. */
function checkWorkQueue(settings: ConsumerSettings, consumers: Map<string, MemoryConsumer>): void {
  const { stream, durable, deliverPolicy, filterSubject } = settings;
  if (deliverPolicy !== "all") throw consumerConflict(stream, durable, "work-queue consumers must deliver all");
  for (const [name, other] of consumers) {
    if (name === durable) continue;
    const a = filterSubject ?? ">";
    const b = other.settings.filterSubject ?? ">";
    if (subjectsCollide(a, b)) {
      throw consumerConflict(stream, durable, `filter overlaps consumer ${name} on a work-queue stream`);
    }
  }
}
