import type { BusReply, BusRequest, Responder } from "./bus.js";
import { busClosed, noResponders, requestTimeout, responderFailed } from "./errors.js";
import { failureMessage, InFlight } from "./request-reply.js";
import { subjectMatcher } from "./subjects.js";

type Handler = (request: BusRequest) => Promise<BusReply>;
/** A handler's outcome: its reply, or the message of what it threw. */
type Outcome = { reply: BusReply } | { failed: string };

/**
 * Core request/reply in process, as NATS routes it: a request goes to one member of every
 * queue group with a matching responder (round-robin within a group) and the first answer
 * wins. Data and headers are copied both ways, as they would be on the wire.
 */
export class MemoryReplies {
  private readonly responders = new Set<MemoryResponder>();
  /** The next turn per queue group, for round-robin among its members. */
  private readonly turns = new Map<string, number>();
  /** Settles each pending request with an error (close). */
  private readonly pending = new Set<(e: Error) => void>();

  respond(subject: string, queue: string, handler: Handler): Responder {
    const responder = new MemoryResponder(subject, queue, handler, (r) => this.remove(r));
    this.responders.add(responder);
    return responder;
  }

  request(subject: string, data: Uint8Array, headers: Record<string, string>, timeoutMs: number): Promise<BusReply> {
    const groups = new Map<string, MemoryResponder[]>();
    for (const r of this.responders) {
      if (!r.matches(subject)) continue;
      const members = groups.get(r.queue);
      if (members) members.push(r);
      else groups.set(r.queue, [r]);
    }
    if (groups.size === 0) return Promise.reject(noResponders(subject));

    return new Promise<BusReply>((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void): void => {
        if (settled) return; // a later answer, or one after the timeout, is dropped
        settled = true;
        clearTimeout(timer);
        this.pending.delete(abort);
        finish();
      };
      const abort = (e: Error): void => settle(() => reject(e));
      const timer = setTimeout(() => abort(requestTimeout(subject, timeoutMs)), timeoutMs);
      this.pending.add(abort);

      const answer = (outcome: Outcome): void =>
        settle(() => ("reply" in outcome ? resolve(outcome.reply) : reject(responderFailed(subject, outcome.failed))));
      for (const [queue, members] of groups) {
        const turn = this.turns.get(queue) ?? 0;
        this.turns.set(queue, turn + 1);
        members[turn % members.length].take({ subject, data: new Uint8Array(data), headers: { ...headers } }, answer);
      }
    });
  }

  /** Rejects pending requests with BUS_CLOSED, then stops every responder. */
  async close(): Promise<void> {
    for (const abort of [...this.pending]) abort(busClosed());
    await Promise.all([...this.responders].map((r) => r.stop()));
  }

  private remove(responder: MemoryResponder): void {
    this.responders.delete(responder);
    if (![...this.responders].some((r) => r.queue === responder.queue)) this.turns.delete(responder.queue);
  }
}

class MemoryResponder implements Responder {
  readonly matches: (subject: string) => boolean;
  private stopped = false;
  private readonly handling = new InFlight();

  constructor(
    subject: string,
    readonly queue: string,
    private readonly handler: Handler,
    private readonly onStop: (r: MemoryResponder) => void,
  ) {
    this.matches = subjectMatcher(subject);
  }

  take(request: BusRequest, answer: (outcome: Outcome) => void): void {
    this.handling.track(this.run(request, answer));
  }

  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      this.onStop(this);
    }
    await this.handling.drained();
  }

  private async run(request: BusRequest, answer: (outcome: Outcome) => void): Promise<void> {
    // Never inside request() itself: the handler starts once the requester has its promise.
    await Promise.resolve();
    let outcome: Outcome;
    try {
      const reply = await this.handler(request);
      outcome = { reply: { data: new Uint8Array(reply.data), headers: { ...reply.headers } } };
    } catch (e) {
      outcome = { failed: failureMessage(e) };
    }
    answer(outcome);
  }
}
