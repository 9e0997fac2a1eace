/**
 * A value read at most every `maxAgeMs` by this scheduler process, for what many calls look
 * at (the executors alive while predictions wait, the deployments at every heartbeat) and
 * can take a little stale; `forget()` after this process changes it.
 */
export class Recent<T> {
  private last: { at: number; value: Promise<T> } | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<T> {
    const now = Date.now();
    if (!this.last || now - this.last.at > this.maxAgeMs) {
      const value = this.read();
      this.last = { at: now, value };
      value.catch(() => {
        if (this.last?.value === value) this.last = undefined;
      });
    }
    return this.last.value;
  }

  forget(): void {
    this.last = undefined;
  }
}

/** Recent values by key: each read at most every `maxAgeMs`; at most `maxKeys` keys kept, the first kept going first. */
export class RecentByKey<T> {
  private readonly values = new Map<string, Recent<T>>();

  constructor(
    private readonly read: (key: string) => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly maxKeys = 1000,
  ) {}

  get(key: string): Promise<T> {
    let recent = this.values.get(key);
    if (!recent) {
      if (this.values.size >= this.maxKeys) this.values.delete(this.values.keys().next().value!);
      recent = new Recent(() => this.read(key), this.maxAgeMs);
      this.values.set(key, recent);
    }
    return recent.get();
  }

  forget(key: string): void {
    this.values.delete(key);
  }
}
