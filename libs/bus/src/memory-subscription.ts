import type { BusMessage, Subscription } from "./bus.js";
import type { Endable, MemoryConsumer, Puller } from "./memory-consumer.js";

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * A pull subscriber: each next() is one pull of one message, so a slow subscriber never
 * holds messages its siblings on the same durable could take.
 */
export class MemorySubscription implements Subscription, Endable {
  private stopped = false;
  private draining = false;
  private readonly waiting = new Map<Puller, () => void>();

  constructor(private readonly consumer: MemoryConsumer) {
    consumer.subscriptions.add(this);
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

  async stop(): Promise<void> {
    this.end();
  }

  /** From now on next() hands out what the consumer has at once, and ends when it has nothing. */
  async drain(): Promise<void> {
    this.draining = true;
    // A pull waiting now waits because there is nothing: it ends.
    if (this.waiting.size) this.end();
  }

  end(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const [puller, finish] of this.waiting) {
      this.consumer.cancel(puller);
      finish();
    }
    this.waiting.clear();
    this.consumer.subscriptions.delete(this);
  }

  private next(): Promise<IteratorResult<BusMessage>> {
    if (this.stopped) return Promise.resolve(DONE);
    if (this.draining) {
      const msg = this.consumer.takeNow();
      if (msg) return Promise.resolve({ done: false, value: msg });
      this.end();
      return Promise.resolve(DONE);
    }
    return new Promise((resolve) => {
      const puller: Puller = {
        deliver: (msg) => {
          this.waiting.delete(puller);
          resolve({ done: false, value: msg });
        },
      };
      this.waiting.set(puller, () => resolve(DONE));
      this.consumer.pull(puller);
    });
  }
}
