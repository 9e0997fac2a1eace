import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { BusMessage, Subscription } from "./bus.js";
import { fromNatsHeaders } from "./nats-headers.js";

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

export function toBusMessage(m: JsMsg): BusMessage {
  return {
    subject: m.subject,
    data: m.data,
    headers: fromNatsHeaders(m.headers),
    seq: m.seq,
    deliveryCount: m.info.deliveryCount,
    ack: () => m.ack(),
    nak: (delayMs?: number) => m.nak(delayMs),
    working: () => m.working(),
    term: () => m.term(),
  };
}

/** The consume loop fails this way when its consumer or stream is deleted; like the memory bus, we just end. */
function isConsumerGone(e: unknown): boolean {
  return e instanceof Error && /consumer deleted|consumer not found|stream deleted|stream not found/i.test(e.message);
}

/**
 * Wraps a consume() loop so stop() ends iteration at once and pulls nothing more.
 * nats.js queues its next pull behind each message and runs it on the following next();
 * after stop() we never call next() again, so no request outlives the subscription.
 */
export class NatsSubscription implements Subscription {
  private stopped = false;
  private inflight: Promise<unknown> | undefined;
  private readonly iter: AsyncIterator<JsMsg>;

  constructor(
    private readonly messages: ConsumerMessages,
    /** Flushes the connection, so acks sent before stop() have reached the server when it resolves. */
    private readonly flush: () => Promise<void>,
    private readonly onStop: (s: NatsSubscription) => void,
  ) {
    this.iter = messages[Symbol.asyncIterator]();
  }

  [Symbol.asyncIterator](): AsyncIterator<BusMessage> {
    return {
      next: () => this.next(),
      return: async () => {
        await this.stop();
        return DONE;
      },
    };
  }

  /** JetStream keeps what is not read for the next reader. */
  drain(): Promise<void> {
    return this.stop();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.onStop(this);
    this.messages.stop();
    // A pending next() wakes on the stop just queued; otherwise end the generator ourselves.
    if (this.inflight) await this.inflight.catch(() => {});
    else await this.iter.return?.();
    await this.flush().catch(() => {});
  }

  private async next(): Promise<IteratorResult<BusMessage>> {
    if (this.stopped) return DONE;
    const pending = this.iter.next();
    this.inflight = pending;
    try {
      const r = await pending.catch((e: unknown) => {
        if (!isConsumerGone(e)) throw e;
        void this.stop();
        return DONE;
      });
      if (r.done) return DONE;
      // Arrived as we stopped: hand it straight back rather than let it sit out the ack wait.
      if (this.stopped) {
        r.value.nak();
        return DONE;
      }
      return { done: false, value: toBusMessage(r.value) };
    } finally {
      this.inflight = undefined;
    }
  }
}
