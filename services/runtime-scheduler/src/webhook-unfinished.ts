import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { Scheduler } from "./job-store.js";
import { deliver, type Delivery } from "./webhook-delivery.js";
import type { DeliveryOutcomes } from "./webhook-outcomes.js";

/** A delivery stopped mid-retry, with the attempts it had made. */
export interface Unfinished {
  webhook: string;
  delivery: Delivery;
  attempts: number;
}

interface UnfinishedRecord {
  webhook: string;
  id: string;
  event: string;
  resource: string;
  time: string;
  body: string;
  attempts: number;
}

function unfinishedRecords(s: Scheduler) {
  return s.metadata.collection<UnfinishedRecord>("runtime_webhook_unfinished");
}

/**
 * Keeps deliveries a stopping scheduler left mid-retry, for the next start to finish: for
 * the in-process bus, which starts empty, so no other scheduler gets the event again.
 */
export async function keepUnfinished(s: Scheduler, left: readonly Unfinished[]): Promise<void> {
  for (const u of left) {
    const { id, event, resource, time, body } = u.delivery;
    try {
      await unfinishedRecords(s).create(`${u.webhook}|${id}`, { webhook: u.webhook, id, event, resource, time: time.toISOString(), body, attempts: u.attempts });
    } catch (e) {
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
    }
  }
  if (left.length) s.logger.info({ deliveries: left.length }, "kept the webhook deliveries still being tried, for the next start");
}

/**
 * Takes the kept deliveries and tries them again now, each with the attempts it has left
 * (to the webhook as it is now; one deleted or paused since is dropped). Resolves with
 * their deliveries under way.
 */
export async function resumeUnfinished(
  s: Scheduler,
  delaysMs: readonly number[],
  stop: AbortSignal,
  outcomes: DeliveryOutcomes,
  abandoned: (u: Unfinished) => void,
): Promise<Promise<unknown>[]> {
  const kept = await unfinishedRecords(s).list({ prefix: "projects/" });
  const webhooks = await s.webhooks.get();
  const resumed: Promise<unknown>[] = [];
  for (const { key, value: r } of kept) {
    await unfinishedRecords(s).delete(key);
    const webhook = webhooks.find((w) => w.name === r.webhook && !w.paused);
    if (!webhook) continue;
    const delivery: Delivery = { id: r.id, event: r.event, resource: r.resource, time: new Date(r.time), body: r.body };
    const going = deliver(s, webhook, delivery, delaysMs, () => {}, stop, outcomes, r.attempts, (attempts) => abandoned({ webhook: r.webhook, delivery, attempts }));
    resumed.push(going.catch(() => {})); // a stop mid-retry keeps it again
  }
  if (resumed.length) s.logger.info({ deliveries: resumed.length }, "resumed the webhook deliveries a stopped process was trying");
  return resumed;
}
