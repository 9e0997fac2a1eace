import { setTimeout as sleep } from "node:timers/promises";
import { headers as natsHeaders, InvalidArgumentError, type Msg, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig as JsConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
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
import { consumerSettings } from "./consumer-settings.js";
import {
  busClosed,
  busUnavailable,
  invalidRequest,
  noResponders,
  noStreamForSubject,
  requestTimeout,
  responderFailed,
  streamConflict,
} from "./errors.js";
import {
  CONSUMER_EXISTS,
  fromJetStream,
  isJetStreamCode,
  isNoResponders,
  isTimeout,
  STREAM_NOT_FOUND,
} from "./nats-errors.js";
import { WatchedConnection } from "./nats-connection.js";
import { fromNatsHeaders, toNatsHeaders } from "./nats-headers.js";
import { PublishAcks } from "./nats-publish-acks.js";
import { NatsResponder } from "./nats-responder.js";
import { NatsSubscription } from "./nats-subscription.js";
import { requestTimeoutMs, RESPONDER_ERROR_HEADER } from "./request-reply.js";
import { checkName, checkStreamConfig, checkSubject } from "./subjects.js";

export interface NatsBusOptions extends BusOptions {
  servers: string | string[];
  /** Connection name shown by the server's monitoring. */
  name?: string;
}

const NANOS_PER_MS = 1_000_000;
const DUPLICATE_WINDOW_NANOS = 2 * 60_000 * NANOS_PER_MS;
// How long a publish keeps retrying while JetStream is unreachable (e.g. a server restart).
const PUBLISH_RETRY_MS = 15_000;
// A healthy server acks in milliseconds; a lost request should not stall the retry for long.
const PUBLISH_ATTEMPT_TIMEOUT_MS = 2_000;
// Short pull expiry: after a reconnect nats.js re-checks the consumer with this as its backoff.
const PULL_EXPIRES_MS = 5_000;

/** An EventBus on NATS JetStream: file-backed streams and durable pull consumers. */
export async function connectNatsBus(opts: NatsBusOptions): Promise<EventBus> {
  let conn: WatchedConnection;
  try {
    conn = await WatchedConnection.open(opts.servers, opts.name);
  } catch (e) {
    throw busUnavailable(`cannot connect to NATS at ${String(opts.servers)}: ${(e as Error).message}`);
  }
  try {
    return new NatsBus(conn, await jetstreamManager(conn.nc), jetstream(conn.nc), opts);
  } catch (e) {
    await conn.nc.close();
    throw busUnavailable(`JetStream unavailable at ${String(opts.servers)}: ${(e as Error).message}`);
  }
}

class NatsBus implements EventBus {
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly responders = new Set<NatsResponder>();
  /** Rejects each pending request (close). */
  private readonly pending = new Set<(e: Error) => void>();
  private closed = false;

  private readonly nc: NatsConnection;
  private readonly acks: PublishAcks;

  constructor(
    private readonly conn: WatchedConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly options: BusOptions = {},
  ) {
    this.nc = conn.nc;
    this.acks = new PublishAcks(conn.nc);
  }

  async ensureStream(config: StreamConfig): Promise<void> {
    this.checkOpen();
    checkStreamConfig(config);
    const retention = config.retention === "workqueue" ? RetentionPolicy.Workqueue : RetentionPolicy.Limits;
    const ctx = { stream: config.name };
    try {
      const info = await this.jsm.streams.info(config.name).catch((e: unknown) => {
        if (isJetStreamCode(e, STREAM_NOT_FOUND)) return undefined;
        throw e;
      });
      const maxAge = (streamMaxAgeMs(config, this.options) ?? 0) * NANOS_PER_MS;
      // JetStream refuses a duplicate window longer than the max age.
      const window = { duplicate_window: maxAge ? Math.min(maxAge, DUPLICATE_WINDOW_NANOS) : DUPLICATE_WINDOW_NANOS };
      if (!info) {
        await this.jsm.streams.add({ name: config.name, subjects: config.subjects, retention, storage: StorageType.File, max_age: maxAge, ...window });
      } else if (info.config.retention !== retention) {
        throw streamConflict(config.name, "retention cannot change");
      } else if (!sameSet(info.config.subjects ?? [], config.subjects) || (info.config.max_age ?? 0) !== maxAge) {
        await this.jsm.streams.update(config.name, { subjects: config.subjects, max_age: maxAge, ...window });
      }
    } catch (e) {
      throw fromJetStream(e, ctx);
    }
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<void> {
    this.checkOpen();
    checkSubject(subject, false);
    const headers = publishHeaders(options);
    if (options.confirm === false) {
      this.nc.publish(subject, data, { headers });
      return;
    }
    const deadline = Date.now() + PUBLISH_RETRY_MS;
    for (let attempt = 0; ; attempt++) {
      if (!(await this.conn.connected(deadline))) throw busUnavailable(`NATS is not connected; publish to ${subject} failed`);
      try {
        await this.acks.publish(subject, data, headers, PUBLISH_ATTEMPT_TIMEOUT_MS);
        return;
      } catch (e) {
        if (e instanceof JetStreamApiError) throw e;
        // No responders: either no stream holds the subject, or JetStream is not back yet.
        if (isNoResponders(e) && (await this.noStreamHolds(subject))) throw noStreamForSubject(subject);
        if (!isNoResponders(e) && !isTimeout(e)) throw busUnavailable(`publish to ${subject} failed: ${(e as Error).message}`);
        // A timed-out publish may have been stored after all; a msgId makes the retry harmless.
        if (this.closed || Date.now() > deadline) throw busUnavailable(`JetStream did not acknowledge a publish to ${subject}`);
        await sleep(Math.min(25 * 2 ** attempt, 500));
      }
    }
  }

  async subscribe(config: ConsumerConfig): Promise<Subscription> {
    this.checkOpen();
    const s = consumerSettings(config);
    const ctx = { stream: s.stream, durable: s.durable, filter: s.filterSubject };
    const cfg: Partial<JsConsumerConfig> = {
      durable_name: s.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: s.ackWaitMs * NANOS_PER_MS,
      max_deliver: s.maxDeliver,
      deliver_policy: s.deliverPolicy === "new" ? DeliverPolicy.New : DeliverPolicy.All,
      ...(s.filterSubject === undefined ? {} : { filter_subject: s.filterSubject }),
    };
    try {
      await this.jsm.consumers.add(s.stream, cfg).catch(async (e: unknown) => {
        // Servers before 2.10 update on create; 2.10+ refuse a changed config unless asked to update.
        if (!isJetStreamCode(e, CONSUMER_EXISTS)) throw e;
        await this.jsm.consumers.update(s.stream, s.durable, { ...cfg, filter_subject: s.filterSubject });
      });
      const consumer = await this.js.consumers.get(s.stream, s.durable);
      // One message per pull: a subscriber holds only what it is working on, so siblings share the rest.
      const messages = await consumer.consume({
        max_messages: 1,
        expires: PULL_EXPIRES_MS,
        // Deleting the durable ends its subscriptions instead of leaving them waiting for it to return.
        abort_on_missing_resource: true,
      });
      const sub = new NatsSubscription(messages, () => this.nc.flush(), (x) => this.subscriptions.delete(x));
      this.subscriptions.add(sub);
      return sub;
    } catch (e) {
      throw fromJetStream(e, ctx);
    }
  }

  async deleteConsumer(stream: string, durable: string): Promise<void> {
    this.checkOpen();
    checkName("stream", stream);
    checkName("durable", durable);
    try {
      await this.jsm.consumers.delete(stream, durable);
    } catch (e) {
      throw fromJetStream(e, { stream, durable });
    }
  }

  async respond(subject: string, queue: string, handler: (request: BusRequest) => Promise<BusReply>): Promise<Responder> {
    this.checkOpen();
    checkSubject(subject, true);
    checkName("queue", queue);
    const responder = new NatsResponder(this.nc, subject, queue, handler, () => this.nc.flush(), (r) => this.responders.delete(r));
    this.responders.add(responder);
    // Once the server has the subscription, requests from any connection reach it.
    try {
      await this.nc.flush();
    } catch (e) {
      await responder.stop();
      this.checkOpen();
      throw busUnavailable(`cannot answer on ${subject}: ${(e as Error).message}`);
    }
    return responder;
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions = {}): Promise<BusReply> {
    this.checkOpen();
    checkSubject(subject, false);
    const timeoutMs = requestTimeoutMs(options);
    let headers: MsgHdrs | undefined;
    try {
      headers = toNatsHeaders(options.headers);
    } catch (e) {
      throw invalidRequest(subject, (e as Error).message);
    }
    return new Promise<BusReply>((resolve, reject) => {
      this.pending.add(reject);
      this.sendRequest(subject, data, headers, timeoutMs)
        .then(resolve, reject)
        .finally(() => this.pending.delete(reject));
    });
  }

  private async sendRequest(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<BusReply> {
    const deadline = Date.now() + timeoutMs;
    // nats.js drops what is written while disconnected: wait for the link within the timeout.
    if (!(await this.conn.connected(deadline))) {
      this.checkOpen();
      throw busUnavailable(`NATS is not connected; request to ${subject} failed`);
    }
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, data, { timeout: Math.max(1, deadline - Date.now()), headers });
    } catch (e) {
      if (isNoResponders(e)) throw noResponders(subject);
      if (isTimeout(e)) throw requestTimeout(subject, timeoutMs);
      this.checkOpen();
      // e.g. a request over the server's max payload
      if (e instanceof InvalidArgumentError) throw invalidRequest(subject, e.message);
      throw busUnavailable(`request to ${subject} failed: ${(e as Error).message}`);
    }
    const replyHeaders = fromNatsHeaders(reply.headers);
    if (Object.hasOwn(replyHeaders, RESPONDER_ERROR_HEADER)) throw responderFailed(subject, new TextDecoder().decode(reply.data));
    return { data: reply.data, headers: replyHeaders };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.acks.close(busClosed());
    for (const reject of [...this.pending]) reject(busClosed());
    // Responders first: the requests they took are answered before the connection drains.
    await Promise.all([...this.responders].map((r) => r.stop()));
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }

  private async noStreamHolds(subject: string): Promise<boolean> {
    try {
      await this.jsm.streams.find(subject);
      return false;
    } catch (e) {
      return /no stream matches subject/i.test((e as Error).message);
    }
  }

  private checkOpen(): void {
    if (this.closed || this.nc.isClosed()) throw busClosed();
  }
}

/** The message's headers (with its dedupe id), or none when it has neither. */
function publishHeaders(options: PublishOptions): MsgHdrs | undefined {
  if (!options.msgId && !options.headers) return undefined;
  const h = natsHeaders();
  for (const [k, v] of Object.entries(options.headers ?? {})) h.set(k, v);
  if (options.msgId) h.set("Nats-Msg-Id", options.msgId);
  return h;
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
