import { createInbox, NoRespondersError, TimeoutError, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { JetStreamApiError } from "@nats-io/jetstream";

/** How often waiting publishes are checked against their deadlines. */
const SWEEP_MS = 100;

interface Waiting {
  resolve(): void;
  reject(e: Error): void;
  deadline: number;
}

/**
 * JetStream publishes whose acknowledgements all come back to one inbox subscription,
 * with one timer for their deadlines. nats.js makes each publish a request of its own,
 * which builds two Error objects (with stack traces) and a timer per message: at
 * thousands of jobs a second that was a tenth of the scheduler's CPU.
 * Failures take nats.js's own error types (NoRespondersError, TimeoutError,
 * JetStreamApiError), so callers treat them as they would nats.js's.
 */
export class PublishAcks {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiting>();
  private readonly sub: Subscription;
  private timer: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.prefix = `${createInbox()}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, { callback: (err, msg) => (err ? undefined : this.settle(msg)) });
  }

  /** Publishes and resolves once the stream has stored the message (or found its msg id stored). */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined, timeoutMs: number): Promise<void> {
    const token = (this.next++).toString(36);
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.timer ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
      try {
        this.nc.publish(subject, data, { reply: this.prefix + token, headers });
      } catch (e) {
        this.waiting.delete(token);
        reject(e as Error);
      }
    });
  }

  /** Fails what still waits (the connection is closing) and stops listening. */
  close(reason: Error): void {
    for (const w of this.waiting.values()) w.reject(reason);
    this.waiting.clear();
    this.stopTimer();
    this.sub.unsubscribe();
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    if (this.waiting.size === 0) this.stopTimer();
    if (msg.data.length === 0 && msg.headers?.code === 503) return w.reject(new NoRespondersError(msg.subject));
    let ack: { stream?: string; error?: ConstructorParameters<typeof JetStreamApiError>[0] };
    try {
      ack = msg.json();
    } catch {
      return w.reject(new Error("JetStream answered a publish with something that is not JSON"));
    }
    if (ack.error) return w.reject(new JetStreamApiError(ack.error));
    if (!ack.stream) return w.reject(new Error("JetStream answered a publish without naming the stream"));
    w.resolve();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [token, w] of this.waiting) {
      if (w.deadline > now) continue;
      this.waiting.delete(token);
      w.reject(new TimeoutError());
    }
    if (this.waiting.size === 0) this.stopTimer();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
