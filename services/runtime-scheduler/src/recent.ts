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
