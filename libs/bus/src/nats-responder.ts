import type { Msg, NatsConnection, Subscription as NatsCoreSubscription } from "@nats-io/transport-node";
import type { BusReply, BusRequest, Responder } from "./bus.js";
import { fromNatsHeaders, toNatsHeaders } from "./nats-headers.js";
import { failureMessage, InFlight, RESPONDER_ERROR_HEADER } from "./request-reply.js";

const encoder = new TextEncoder();

/**
 * A core NATS subscription (in a queue group) that answers each request with its handler.
 * A handler's failure goes back as a reply with the RESPONDER_ERROR_HEADER and the error's
 * message as data, so the requester can tell it from an answer.
 */
export class NatsResponder implements Responder {
  private readonly sub: NatsCoreSubscription;
  private readonly handling = new InFlight();
  private stopping: Promise<void> | undefined;

  constructor(
    nc: NatsConnection,
    subject: string,
    queue: string,
    private readonly handler: (request: BusRequest) => Promise<BusReply>,
    /** Flushes the connection, so replies sent before stop() resolves have reached the server. */
    private readonly flush: () => Promise<void>,
    private readonly onStop: (r: NatsResponder) => void,
  ) {
    this.sub = nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (!err) this.take(msg);
      },
    });
  }

  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.onStop(this);
    // Unsubscribes and waits until the server has it; requests that arrived before are taken.
    await this.sub.drain().catch(() => {});
    await this.handling.drained();
    await this.flush().catch(() => {});
  }

  private take(msg: Msg): void {
    if (!msg.reply) return; // a plain publish, not a request: nobody waits for an answer
    this.handling.track(this.answer(msg));
  }

  private async answer(msg: Msg): Promise<void> {
    try {
      const reply = await this.handler({ subject: msg.subject, data: msg.data, headers: fromNatsHeaders(msg.headers) });
      // Throws on headers NATS cannot carry or a reply over the server's max payload: reported as a failure.
      msg.respond(reply.data, { headers: toNatsHeaders(reply.headers) });
    } catch (e) {
      try {
        msg.respond(encoder.encode(failureMessage(e)), { headers: toNatsHeaders({ [RESPONDER_ERROR_HEADER]: "RESPONDER_FAILED" }) });
      } catch {
        // The connection is gone: the requester times out.
      }
    }
  }
}
