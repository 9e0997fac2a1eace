import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, type Client } from "@connectrpc/connect";
import type { LogEventsRequestSchema, TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { EventInput } from "./tracking-providers.js";
import { call, KilnApiError, ResourceExhaustedError } from "./errors.js";

/** Failures worth another try: the server was unreachable or the connection broke. */
const RETRYABLE = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.DeadlineExceeded, Code.Aborted]);

export interface BufferOptions {
  /** Events per message (default 10,000). */
  batchSize?: number;
  /** Send what is buffered at least this often (default 200 ms). */
  flushIntervalMs?: number;
  /** Most events held while the server is unreachable (default 1,000,000); beyond, logging throws. */
  maxBuffered?: number;
  /** How long to keep retrying a batch (default 60 s). */
  retryForMs?: number;
}

/**
 * Buffers a run's events and sends them in the background, a batch per message, in
 * order. A failed send is retried with backoff: every event has an id, so the server
 * skips what an earlier try already stored.
 */
export class EventBuffer {
  private pending: PendingEvent[] = [];
  private sending: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private failure: unknown;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private readonly retryForMs: number;
  private readonly idPrefix = globalThis.crypto.randomUUID().replace(/-/g, "").slice(0, 16);
  private counter = 0;

  constructor(
    private readonly client: Client<typeof TrackingService>,
    private readonly run: string,
    options: BufferOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 10_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBuffered = options.maxBuffered ?? 1_000_000;
    this.retryForMs = options.retryForMs ?? 60_000;
  }

  add(event: EventInput): void {
    if (this.failure) throw this.failure;
    if (this.pending.length >= this.maxBuffered) {
      throw new ResourceExhaustedError(`${this.maxBuffered} tracking events are waiting for the server`, Code.ResourceExhausted, "TRACKING_BUFFER_FULL", {});
    }
    // Sequential ids: unique, and cheap for the server's index.
    const ms = Date.now();
    const dt = event.dt ?? { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
    this.pending.push({ ...event, dt, id: `${this.idPrefix}-${(this.counter++).toString(36)}` });
    if (this.pending.length >= this.batchSize) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.flushIntervalMs);
  }

  /** Sends everything buffered; rejects if the server kept refusing. */
  async flush(): Promise<void> {
    while (this.pending.length || this.sending) {
      this.kick();
      await this.sending;
      if (this.failure) throw this.failure;
    }
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending || this.pending.length === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if (this.pending.length && !this.failure) this.timer ??= setTimeout(() => this.kick(), 0);
    });
  }

  private async drain(): Promise<void> {
    const batch = this.pending.splice(0, Math.max(this.batchSize, this.pending.length));
    const messages: MessageInitShape<typeof LogEventsRequestSchema>[] = [];
    for (let at = 0; at < batch.length; at += this.batchSize) messages.push({ run: this.run, events: batch.slice(at, at + this.batchSize) });
    const deadline = Date.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await call(() => this.client.logEvents(iterate(messages)));
        return;
      } catch (e) {
        if (!(e instanceof KilnApiError && RETRYABLE.has(e.code)) || Date.now() > deadline) {
          this.failure = e;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2_000)));
      }
    }
  }
}

async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

type PendingEvent = EventInput & { id: string };
