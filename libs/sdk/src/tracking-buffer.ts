import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import type { LogEventsRequestSchema, TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import { float64Bytes } from "@kiln/proto";
import { call, KilnApiError, ResourceExhaustedError } from "./errors.js";
import type { EventInput } from "./tracking-providers.js";

/**
 * Failures worth another try: the server was unreachable or the connection broke. A
 * connection that drops mid-call resets its HTTP/2 streams, which connect-node reports
 * as Canceled; the buffer never cancels a send itself, so that is a broken connection too.
 */
const RETRYABLE = new Set([Code.Unavailable, Code.Internal, Code.Unknown, Code.DeadlineExceeded, Code.Aborted, Code.Canceled]);

export interface BufferOptions {
  /** Events per batch (default 20,000). */
  batchSize?: number;
  /** Send what is buffered at least this often (default 200 ms). */
  flushIntervalMs?: number;
  /** Most events held unsent (default 5,000,000, about 250 MB); beyond, logging throws. */
  maxBuffered?: number;
  /** How long to keep retrying (default 60 s). */
  retryForMs?: number;
}

type Request = MessageInitShape<typeof LogEventsRequestSchema>;

/** Events being gathered into one batch, column by column (no object per event). */
class Columns {
  readonly strings: string[] = [];
  private readonly index = new Map<string, number>();
  readonly event: number[] = [];
  readonly key: number[] = [];
  readonly node: number[] = [];
  readonly step: number[] = [];
  // Doubles go as bytes (EventColumns.dt_f64, number_f64): one copy, where packed doubles encode one by one.
  private readonly dt = new DoubleColumn();
  readonly valueType: number[] = [];
  private readonly number = new DoubleColumn();
  readonly text: string[] = [];

  get length(): number {
    return this.event.length;
  }

  add(e: EventInput): void {
    this.event.push(this.intern(e.event ?? ""));
    this.key.push(this.intern(e.key ?? ""));
    this.node.push(this.intern(e.node ?? ""));
    this.step.push(Number(e.step ?? 0));
    this.dt.push(Date.now());
    const v = e.value;
    if (v?.case === "number") {
      this.valueType.push(1);
      this.number.push(v.value);
      return;
    }
    this.number.push(0);
    if (v?.case === "text" || v?.case === "json") {
      this.valueType.push(v.case === "text" ? 2 : 3);
      this.text.push(v.value);
    } else {
      this.valueType.push(0);
    }
  }

  /** The batch as EventColumns fields. */
  toMessage() {
    const { strings, event, key, node, step, valueType, text } = this;
    return { strings, event, key, node, step, valueType, text, dtF64: this.dt.bytes(), numberF64: this.number.bytes() };
  }

  private intern(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

/** A growing column of doubles. */
class DoubleColumn {
  private values = new Float64Array(1024);
  private length = 0;

  push(v: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = v;
  }

  bytes(): Uint8Array {
    return float64Bytes(this.values, this.length);
  }
}

/**
 * Buffers a run's events and sends them in the background as columnar batches, in order.
 * Each batch has an id fixed when it is cut, so a retried send (after a network error)
 * is skipped by the server if it had arrived: no event is ever stored twice. Artifacts
 * (rare) travel as single events with ids of their own.
 */
export class EventBuffer {
  private columns = new Columns();
  private sealed: Request[] = [];
  private buffered = 0;
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
    /** Whether requests can stream (not in browsers): batches then go in one AppendEvents message. */
    private readonly streaming = true,
  ) {
    this.batchSize = options.batchSize ?? 20_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 200;
    this.maxBuffered = options.maxBuffered ?? 5_000_000;
    this.retryForMs = options.retryForMs ?? 60_000;
  }

  add(event: EventInput): void {
    if (this.failure) throw this.failure;
    if (this.buffered >= this.maxBuffered) {
      throw new ResourceExhaustedError(`${this.maxBuffered} tracking events are waiting for the server`, Code.ResourceExhausted, "TRACKING_BUFFER_FULL", {});
    }
    this.buffered++;
    if (event.value?.case === "artifact") {
      this.seal();
      this.sealed.push({ run: this.run, events: [{ ...event, id: `${this.idPrefix}-e${this.counter++}`, dt: timestampFromMs(Date.now()) }] });
    } else {
      this.columns.add(event);
      if (this.columns.length >= this.batchSize) this.seal();
    }
    if (this.sealed.length) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), this.flushIntervalMs);
  }

  /** Sends everything buffered; rejects if the server kept refusing. */
  async flush(): Promise<void> {
    this.seal();
    while (this.sealed.length || this.sending) {
      this.kick();
      await this.sending;
      if (this.failure) throw this.failure;
    }
  }

  private seal(): void {
    if (this.columns.length === 0) return;
    const c = this.columns;
    this.columns = new Columns();
    this.sealed.push({ run: this.run, batchId: `${this.idPrefix}-b${this.counter++}`, columns: c.toMessage() });
  }

  private kick(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.sending) return;
    this.seal();
    if (this.sealed.length === 0) return;
    this.sending = this.drain().finally(() => {
      this.sending = undefined;
      if ((this.sealed.length || this.columns.length) && !this.failure) this.timer ??= setTimeout(() => this.kick(), 0);
    });
  }

  private async drain(): Promise<void> {
    const requests = this.sealed.splice(0);
    const count = requests.reduce((n, r) => n + (r.columns?.event?.length ?? r.events?.length ?? 0), 0);
    const deadline = Date.now() + this.retryForMs;
    for (let attempt = 0; ; attempt++) {
      try {
        if (this.streaming) await call(() => this.client.logEvents(createAsyncIterable(requests)));
        // A batch a message keeps each under the message limit; a retry sends them all again, and the server skips the ones it has.
        else for (const batch of requests) await call(() => this.client.appendEvents({ batches: [batch] }));
        this.buffered -= count;
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
