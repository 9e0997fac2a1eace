import type { RequestOptions } from "./bus.js";
import { invalidTimeout } from "./errors.js";

export const DEFAULT_REQUEST_TIMEOUT_MS = 5_000;

/** The reply header that marks a handler's failure on NATS; the reply's data is then the error message. */
export const RESPONDER_ERROR_HEADER = "Kiln-Error";

/** The request's timeout, checked. */
export function requestTimeoutMs(options: RequestOptions): number {
  const ms = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(Number.isFinite(ms) && ms > 0)) throw invalidTimeout(ms);
  return ms;
}

/** What a requester learns of a handler's failure: the message, never the stack. */
export function failureMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A responder's handlers running now, and a wait until none is (its stop). */
export class InFlight {
  private count = 0;
  private idle: Array<() => void> = [];

  /** Counts the handler until it settles. */
  track(handling: Promise<void>): void {
    this.count++;
    void handling.finally(() => {
      if (--this.count === 0) for (const wake of this.idle.splice(0)) wake();
    });
  }

  /** Resolves once no handler runs. */
  async drained(): Promise<void> {
    if (this.count > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }
}
