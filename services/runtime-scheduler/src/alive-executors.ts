import type { Executor } from "@kiln/proto/kiln/runtime/v1/runtime_pb";

/**
 * The executors alive, as read at most every `maxAgeMs` by this scheduler process: for
 * online predictions that look at them while they wait, which would otherwise read every
 * executor record per request and per look.
 */
export class AliveExecutors {
  private last: { at: number; executors: Promise<Executor[]> } | undefined;

  constructor(
    private readonly read: () => Promise<Executor[]>,
    private readonly maxAgeMs: number,
  ) {}

  get(): Promise<Executor[]> {
    const now = Date.now();
    if (!this.last || now - this.last.at > this.maxAgeMs) {
      const executors = this.read();
      this.last = { at: now, executors };
      executors.catch(() => {
        if (this.last?.executors === executors) this.last = undefined;
      });
    }
    return this.last.executors;
  }
}
