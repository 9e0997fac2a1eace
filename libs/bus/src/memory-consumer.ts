import type { BusMessage } from "./bus.js";
import type { ConsumerSettings } from "./consumer-settings.js";
import type { MemoryStream, StoredMessage } from "./memory-stream.js";

/** One waiting pull: a subscriber's pending next(). */
export interface Puller {
  deliver(msg: BusMessage): void;
}

/** What a consumer ends when it is deleted or the bus closes. */
export interface Endable {
  end(): void;
}

/** One delivery of a message; a redelivery is a new Delivery, so stale nak()/working() calls can be told apart. */
interface Delivery {
  seq: number;
  count: number;
  state: "out" | "queued" | "delayed";
  timer?: NodeJS.Timeout;
}

/**
 * A durable consumer's state, as JetStream keeps it: a cursor for first deliveries, the
 * deliveries awaiting ack (each with an ack-wait timer), and a FIFO of messages due for
 * redelivery, which go out before new ones.
 */
export class MemoryConsumer {
  readonly subscriptions = new Set<Endable>();
  private cursor: number;
  private readonly deliveries = new Map<number, Delivery>();
  private readonly redeliverQueue: number[] = [];
  private readonly pullers: Puller[] = [];
  private disposed = false;

  constructor(
    private readonly stream: MemoryStream,
    public settings: ConsumerSettings,
  ) {
    this.cursor = settings.deliverPolicy === "new" ? stream.last + 1 : 1;
  }

  pull(puller: Puller): void {
    if (this.disposed) return;
    this.pullers.push(puller);
    this.dispatch();
  }

  cancel(puller: Puller): void {
    const i = this.pullers.indexOf(puller);
    if (i >= 0) this.pullers.splice(i, 1);
  }

  /** A message available now, delivered, or none. */
  takeNow(): BusMessage | undefined {
    if (this.disposed) return undefined;
    const next = this.take();
    return next && this.deliver(next.msg, next.count);
  }

  /** Hands available messages to waiting pullers, oldest puller first. */
  dispatch(): void {
    while (this.pullers.length > 0) {
      const next = this.take();
      if (!next) return;
      this.pullers.shift()!.deliver(this.deliver(next.msg, next.count));
    }
  }

  /** Ends subscriptions and clears every timer; the consumer is unusable afterwards. */
  dispose(): void {
    this.disposed = true;
    for (const d of this.deliveries.values()) clearTimeout(d.timer);
    this.deliveries.clear();
    this.redeliverQueue.length = 0;
    this.pullers.length = 0;
    for (const s of [...this.subscriptions]) s.end();
  }

  private take(): { msg: StoredMessage; count: number } | undefined {
    while (this.redeliverQueue.length > 0) {
      const seq = this.redeliverQueue.shift()!;
      const d = this.deliveries.get(seq);
      if (d?.state !== "queued") continue;
      const msg = this.stream.get(seq);
      if (msg) return { msg, count: d.count + 1 };
      this.deliveries.delete(seq);
    }
    const msg = this.stream.firstFrom(this.cursor, this.settings.filterSubject);
    this.cursor = msg ? msg.seq + 1 : this.stream.last + 1;
    return msg && { msg, count: 1 };
  }

  private deliver(msg: StoredMessage, count: number): BusMessage {
    const d: Delivery = { seq: msg.seq, count, state: "out" };
    this.deliveries.set(msg.seq, d);
    this.arm(d, this.settings.ackWaitMs, () => this.expire(d));
    return {
      subject: msg.subject,
      data: this.stream.dataOf(msg),
      headers: { ...msg.headers },
      seq: msg.seq,
      deliveryCount: count,
      ack: () => this.settle(msg.seq),
      // JetStream counts a terminated message as done, so a work queue drops it too.
      term: () => this.settle(msg.seq),
      nak: (delayMs?: number) => this.nak(d, delayMs),
      working: () => {
        if (this.isCurrent(d)) this.arm(d, this.settings.ackWaitMs, () => this.expire(d));
      },
    };
  }

  /** Acks come from any delivery of the message, as in JetStream (acks go by stream sequence). */
  private settle(seq: number): void {
    const d = this.deliveries.get(seq);
    if (!d) return;
    clearTimeout(d.timer);
    this.deliveries.delete(seq);
    if (this.stream.retention === "workqueue") this.stream.remove(seq);
  }

  private nak(d: Delivery, delayMs?: number): void {
    if (!this.isCurrent(d)) return;
    clearTimeout(d.timer);
    if (this.exhausted(d)) {
      this.deliveries.delete(d.seq);
    } else if (delayMs !== undefined && delayMs > 0) {
      d.state = "delayed";
      this.arm(d, delayMs, () => this.requeue(d));
    } else {
      this.requeue(d);
    }
  }

  private expire(d: Delivery): void {
    if (!this.isCurrent(d)) return;
    // Past maxDeliver the message is given up on; like JetStream, it stays in the stream.
    if (this.exhausted(d)) this.deliveries.delete(d.seq);
    else this.requeue(d);
  }

  private requeue(d: Delivery): void {
    if (this.deliveries.get(d.seq) !== d) return;
    d.state = "queued";
    d.timer = undefined;
    this.redeliverQueue.push(d.seq);
    this.dispatch();
  }

  private isCurrent(d: Delivery): boolean {
    return !this.disposed && d.state === "out" && this.deliveries.get(d.seq) === d;
  }

  private exhausted(d: Delivery): boolean {
    return this.settings.maxDeliver > 0 && d.count >= this.settings.maxDeliver;
  }

  private arm(d: Delivery, ms: number, fire: () => void): void {
    clearTimeout(d.timer);
    d.timer = setTimeout(fire, ms);
    // A forgotten close() must not keep a process alive just for redelivery timers.
    d.timer.unref();
  }
}
