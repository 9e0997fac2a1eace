import { randomUUID } from "node:crypto";
import type { BusMessage, Subscription } from "@kiln/bus";
import { REGISTRY_STREAM, RUNTIME_EVENT_STREAM, STORE_STREAM } from "@kiln/contracts";
import type { Webhook } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import type { Scheduler } from "./job-store.js";
import { deliver, DeliveryOutcomes, post, RETRY_DELAYS_MS, type Attempt, type Delivery } from "./webhook-delivery.js";
import { decodeEvent, eventName, wants } from "./webhook-events.js";

const CONSUMER = "runtime_webhooks";
/** Events delivered at once, so one slow URL does not hold the others up. */
const IN_FLIGHT = 64;

export interface WebhookOptions {
  /** The waits between attempts (default 1 s, 10 s, 1 min, 5 min). */
  retryDelaysMs?: readonly number[];
}

export interface WebhookDispatcher {
  stop(): Promise<void>;
}

/**
 * Delivers the services' events to the webhooks that ask for them: one durable consumer
 * per event stream, shared by every scheduler, so each event goes out once (at least once:
 * a scheduler that stops mid-delivery leaves it to another, which sends it again). An event
 * is acked once every webhook it matched has it or was given up on.
 */
export async function startWebhooks(s: Scheduler, options: WebhookOptions = {}): Promise<WebhookDispatcher> {
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const streams = [RUNTIME_EVENT_STREAM, REGISTRY_STREAM, STORE_STREAM];
  for (const stream of streams) await s.bus.ensureStream(stream);
  // Events from before the first scheduler that delivers them are not sent: no webhook asked yet.
  const subs: Subscription[] = [];
  for (const stream of streams) subs.push(await s.bus.subscribe({ stream: stream.name, durable: CONSUMER, deliverPolicy: "new", ackWaitMs: 60_000 }));
  const inFlight = new Set<Promise<void>>();
  const stopping = new AbortController();
  const outcomes = new DeliveryOutcomes(s);
  const handle = async (msg: BusMessage) => {
    try {
      await dispatch(s, msg, await s.webhooks.get(), { delays, stop: stopping.signal, outcomes });
      msg.ack();
    } catch (e) {
      if (stopping.signal.aborted) return; // not acked: after the ack wait another scheduler has it
      s.logger.warn({ err: e, subject: msg.subject }, "could not deliver an event to its webhooks; it comes back shortly");
      msg.nak(1_000);
    }
  };
  const loops = subs.map(async (sub) => {
    for await (const msg of sub) {
      const p = handle(msg).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
  });
  return {
    async stop() {
      stopping.abort();
      await Promise.all(subs.map((sub) => sub.stop()));
      await Promise.all(loops);
      await Promise.all(inFlight);
      await outcomes.stop();
    },
  };
}

interface Dispatch {
  delays: readonly number[];
  stop: AbortSignal;
  outcomes: DeliveryOutcomes;
}

async function dispatch(s: Scheduler, msg: BusMessage, webhooks: readonly Webhook[], how: Dispatch): Promise<void> {
  const event = eventName(msg.subject);
  // Most events no webhook asks for: they are not even decoded.
  const asking = webhooks.filter((w) => !w.paused && wants(w.events, event));
  if (asking.length === 0) return;
  const decoded = decodeEvent(msg.subject, msg.data);
  if (!decoded) return;
  const targets = asking.filter((w) => w.name.startsWith(`${decoded.project}/webhooks/`));
  if (targets.length === 0) return;
  const id = `${msg.subject.split(".")[1]}-${msg.seq}`;
  const body = JSON.stringify({ id, event, time: decoded.time.toISOString(), project: decoded.project, resource: decoded.resource, data: decoded.data });
  await Promise.all(targets.map((w) => deliver(s, w, { id, event, body }, how.delays, () => msg.working(), how.stop, how.outcomes)));
}

/** TestWebhook: a "ping" now, once, recorded nowhere. */
export async function pingWebhook(webhook: Webhook, now: Date): Promise<Attempt> {
  const project = webhook.name.slice(0, webhook.name.indexOf("/webhooks/"));
  const id = `ping-${randomUUID()}`;
  const delivery: Delivery = { id, event: "ping", body: JSON.stringify({ id, event: "ping", time: now.toISOString(), project, resource: webhook.name, data: { webhook: webhook.name } }) };
  return post(webhook, delivery);
}
