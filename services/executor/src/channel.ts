/** A bounded queue between one producer and one consumer, with backpressure both ways. */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private closed = false;
  private failure: unknown;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly capacity = 2) {}

  async push(item: T): Promise<void> {
    while (this.items.length >= this.capacity && !this.closed) await new Promise<void>((r) => (this.wakeProducer = r));
    if (this.closed) return;
    this.items.push(item);
    this.wakeConsumer?.();
  }

  /** No more items; the consumer ends after the ones queued (or throws `error`). */
  close(error?: unknown): void {
    this.closed = true;
    this.failure = error;
    this.wakeConsumer?.();
    this.wakeProducer?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length) {
        yield this.items.shift()!;
        this.wakeProducer?.();
        continue;
      }
      if (this.closed) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((r) => (this.wakeConsumer = r));
    }
  }
}
