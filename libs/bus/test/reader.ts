import { setTimeout as sleep } from "node:timers/promises";
import type { BusMessage, Subscription } from "../src/index.js";

const QUIET = Symbol("quiet");

/**
 * Reads a subscription one message at a time. A next() that timed out stays pending and
 * is reused by the following read, so no message is pulled into a read nobody awaits.
 */
export class Reader {
  private readonly iter: AsyncIterator<BusMessage>;
  private pending: Promise<IteratorResult<BusMessage>> | undefined;

  constructor(readonly sub: Subscription) {
    this.iter = sub[Symbol.asyncIterator]();
  }

  /** The next message; fails after timeoutMs (a bound, not a wait: it returns as soon as one arrives). */
  async take(timeoutMs = 5_000): Promise<BusMessage> {
    const r = await this.race(timeoutMs);
    if (r === QUIET) throw new Error(`no message within ${timeoutMs} ms`);
    if (r.done) throw new Error("subscription ended");
    return r.value;
  }

  /** The next message, or undefined once the subscription ends. */
  async takeOrEnd(timeoutMs = 5_000): Promise<BusMessage | undefined> {
    const r = await this.race(timeoutMs);
    if (r === QUIET) throw new Error(`no message within ${timeoutMs} ms`);
    return r.done ? undefined : r.value;
  }

  /** Asserts nothing arrives for ms (the only place the suite sleeps). */
  async none(ms: number): Promise<void> {
    const r = await this.race(ms);
    if (r !== QUIET) {
      throw new Error(r.done ? "subscription ended" : `unexpected message seq ${r.value.seq} (${r.value.subject})`);
    }
  }

  /** Resolves true once the subscription ends. */
  async ended(timeoutMs = 5_000): Promise<boolean> {
    const r = await this.race(timeoutMs);
    return r !== QUIET && r.done === true;
  }

  private async race(ms: number): Promise<IteratorResult<BusMessage> | typeof QUIET> {
    this.pending ??= this.iter.next();
    const ac = new AbortController();
    const r = await Promise.race([this.pending, sleep(ms, QUIET, { signal: ac.signal }).catch(() => QUIET)]);
    ac.abort();
    if (r !== QUIET) this.pending = undefined;
    return r as IteratorResult<BusMessage> | typeof QUIET;
  }
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
export const str = (b: Uint8Array): string => new TextDecoder().decode(b);
