import { createHash, randomUUID } from "node:crypto";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { BusMessage, Subscription } from "@kiln/bus";
import { REGISTRY_STREAM, RUNTIME_EVENT_STREAM, STORE_STREAM } from "@kiln/contracts";
import type { Webhook } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import type { SchedulerDeps } from "./deps.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { deliver, eventDelivery, post, RETRY_DELAYS_MS, type Attempt } from "./webhook-delivery.js";
import { parseWebhookName } from "./webhooks.js";
import { DeliveryOutcomes } from "./webhook-outcomes.js";
import { decodeEvent, eventName, wants } from "./webhook-events.js";
import { keepUnfinished, resumeUnfinished, type Unfinished } from "./webhook-unfinished.js";

const CONSUMER = "runtime_webhooks";
/** Events delivered at once, so one slow URL does not hold the others up. */
const IN_FLIGHT = 64;

export interface WebhookOptions {
  /** The waits between attempts (default 1 s, 10 s, 1 min, 5 min). */
  retryDelaysMs?: readonly number[];
  /**
   * Keep the deliveries still being tried when it stops, and those of the events not read
   * yet, and finish them at the next start: for the in-process bus, which starts empty (with
   * NATS another scheduler, or this one started again, gets the unacked event instead).
   */
  keepUnfinished?: boolean;
}

export interface WebhookDispatcher {
  stop(): Promise<void>;
}

/** How often a dispatcher looks whether any webhook is active, to start or stop reading events. */
const LOOK_MS = 250;

/**
 * Delivers the services' events to the webhooks that ask for them: one durable consumer
 * per event stream, shared by every scheduler, so each event goes out once (at least once:
 * a scheduler that stops mid-delivery leaves it to another, which sends it again). An event
 * is acked once every webhook it matched has it or was given up on. While no webhook is
 * active the events are not read at all (a webhook is sent only events from its
 * `active_since` on, so those read late are passed over).
 */
export async function startWebhooks(s: Scheduler, options: WebhookOptions = {}): Promise<WebhookDispatcher> {
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const streams = [RUNTIME_EVENT_STREAM, REGISTRY_STREAM, STORE_STREAM];
  for (const stream of streams) await s.bus.ensureStream(stream);
  const consumer = (stream: string) => ({ stream, durable: CONSUMER, deliverPolicy: "new" as const, ackWaitMs: 60_000 });
  // The consumers exist from the first start on, so events after it wait for a webhook made later.
  for (const stream of streams) await (await s.bus.subscribe(consumer(stream.name))).stop();

  const inFlight = new Set<Promise<void>>();
  const stopping = new AbortController();
  const outcomes = new DeliveryOutcomes(s);
  const left: Unfinished[] = [];
  const abandoned = (u: Unfinished) => void left.push(u);
  const resumed = options.keepUnfinished ? await resumeUnfinished(s, delays, stopping.signal, outcomes, abandoned) : [];
  const handle = async (msg: BusMessage) => {
    try {
      await dispatch(s, msg, await s.webhooks.get(), { delays, stop: stopping.signal, outcomes, abandoned });
      msg.ack();
    } catch (e) {
      if (stopping.signal.aborted) return; // not acked: after the ack wait another scheduler has it
      s.logger.warn({ err: e, subject: msg.subject }, "could not deliver an event to its webhooks; it comes back shortly");
      msg.nak(1_000);
    }
  };
  let reading: { subs: Subscription[]; loops: Promise<void>[] } | undefined;
  const startReading = async () => {
    const subs = await Promise.all(streams.map((stream) => s.bus.subscribe(consumer(stream.name))));
    const loops = subs.map(async (sub) => {
      for await (const msg of sub) {
        const p = handle(msg).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
      }
    });
    reading = { subs, loops };
  };
  /** `drain`: the events there are now are read first (each then kept unsent, as the stop has begun). */
  const stopReading = async (drain = false) => {
    const was = reading;
    reading = undefined;
    if (!was) return;
    await Promise.all(was.subs.map((sub) => (drain ? sub.drain() : sub.stop())));
    await Promise.all(was.loops);
  };
  const look = async () => {
    const active = (await s.webhooks.get()).some((w) => !w.paused);
    if (active && !reading) await startReading();
    else if (!active && reading) await stopReading();
  };
  let looking = look();
  const timer = setInterval(() => {
    looking = looking.then(look).catch((e: unknown) => s.logger.warn({ err: e }, "could not look for active webhooks"));
  }, LOOK_MS);
  timer.unref();
  await looking;
  return {
    async stop() {
      clearInterval(timer);
      stopping.abort();
      await looking.catch(() => {});
      await stopReading(options.keepUnfinished);
      await Promise.all([...inFlight, ...resumed]);
      if (options.keepUnfinished) await keepUnfinished(s, left);
      await outcomes.stop();
    },
  };
}

interface Dispatch {
  delays: readonly number[];
  stop: AbortSignal;
  outcomes: DeliveryOutcomes;
  /** Told of each delivery the stop leaves mid-retry. */
  abandoned: (u: Unfinished) => void;
}

async function dispatch(s: Scheduler, msg: BusMessage, webhooks: readonly Webhook[], how: Dispatch): Promise<void> {
  const event = eventName(msg.subject);
  // Most events no webhook asks for: they are not even decoded.
  const asking = webhooks.filter((w) => !w.paused && wants(w.events, event));
  if (asking.length === 0) return;
  const decoded = decodeEvent(msg.subject, msg.data);
  if (!decoded) return;
  // Of its project, and from when it was made or resumed on (events read after a time nothing was active).
  const targets = asking.filter((w) => w.name.startsWith(`${decoded.project}/webhooks/`) && (!w.activeSince || decoded.time >= timestampDate(w.activeSince)));
  if (targets.length === 0) return;
  // The same for every delivery of this event (a redelivery too), and no other's: the in-process bus numbers its messages anew after a restart.
  const id = `evt-${createHash("sha256").update(msg.subject).update(msg.data).digest("hex").slice(0, 32)}`;
  const delivery = eventDelivery({ id, event, ...decoded });
  await Promise.all(targets.map((w) => deliver(s, w, delivery, how.delays, () => msg.working(), how.stop, how.outcomes, 0, (attempts) => how.abandoned({ webhook: w.name, delivery, attempts }))));
}

/** TestWebhook: a "ping" now, once, recorded nowhere. */
export async function pingWebhook(s: SchedulerDeps, webhook: Webhook): Promise<Attempt> {
  const { project } = parseWebhookName(webhook.name);
  const ping = eventDelivery({ id: `ping-${randomUUID()}`, event: "ping", time: nowOf(s), project, resource: webhook.name, data: { webhook: webhook.name } });
  return post(webhook, ping, { networks: s.settings.webhookNetworks });
}
