import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { isKilnError, notFound, printable } from "@kiln/core";
import { WebhookDeliverySchema, type ListWebhookDeliveriesRequest, type RedeliverWebhookDeliveryRequest, type WebhookDelivery } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { scanPage } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";
import { nowOf } from "./job-store.js";
import { protoRecords, type ProtoRecord } from "./proto-records.js";
import { post, type Attempt, type Delivery } from "./webhook-delivery.js";
import { changeWebhook, readWebhook } from "./webhooks.js";

/** How often what was delivered is written: one write of the counts per webhook per flush, however many events. */
const FLUSH_MS = 1_000;
/** The deliveries each webhook keeps. */
export const KEPT_DELIVERIES = 100;

/** How one event's delivery to one webhook ended. */
export interface Outcome {
  delivery: Delivery;
  attempt: Attempt;
  attempts: number;
  at: Date;
}

/** A kept delivery: the message, and the body it sent, for a redelivery. */
interface DeliveryRecord extends ProtoRecord {
  body: string;
}

const records = protoRecords<typeof WebhookDeliverySchema, DeliveryRecord>("runtime_webhook_deliveries", WebhookDeliverySchema);
const kept = records.of;

/** A webhook's deliveries sort by when they ended: `{webhook}/deliveries/{ISO time}|{id}`. */
const prefixOf = (webhook: string) => `${webhook}/deliveries/`;

/**
 * Deliveries' outcomes, summed per webhook and written every second (and when stopped):
 * its counts, its last delivery's time, status and error, and its last deliveries, of
 * which it keeps KEPT_DELIVERIES.
 */
export class DeliveryOutcomes {
  private pending = new Map<string, Outcome[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly s: SchedulerDeps) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  add(webhook: string, outcome: Outcome): void {
    const list = this.pending.get(webhook) ?? [];
    list.push(outcome);
    this.pending.set(webhook, list);
  }

  async flush(): Promise<void> {
    const pending = this.pending;
    this.pending = new Map();
    await Promise.all([...pending].map(([webhook, outcomes]) => this.write(webhook, outcomes)));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(webhook: string, outcomes: Outcome[]): Promise<void> {
    const last = outcomes.at(-1)!;
    const delivered = outcomes.filter((o) => o.attempt.delivered).length;
    try {
      await changeWebhook(this.s, webhook, (w) => {
        w.lastDeliveryTime = timestampFromDate(last.at);
        w.lastStatus = last.attempt.status;
        w.lastError = last.attempt.error;
        w.deliveredCount += BigInt(delivered);
        w.failedCount += BigInt(outcomes.length - delivered);
      });
      await keep(this.s, webhook, outcomes.slice(-KEPT_DELIVERIES));
    } catch (e) {
      // Deleted meanwhile: nothing to record.
      if (!isKilnError(e, Code.NotFound) && !isKilnError(e, Code.AlreadyExists)) this.s.logger.warn({ err: e, webhook }, "could not record a webhook's deliveries");
    }
  }
}

function deliveryOf(o: Outcome): WebhookDelivery {
  return create(WebhookDeliverySchema, {
    id: o.delivery.id,
    event: o.delivery.event,
    resource: o.delivery.resource,
    eventTime: timestampFromDate(o.delivery.time),
    endTime: timestampFromDate(o.at),
    attempts: o.attempts,
    delivered: o.attempt.delivered,
    status: o.attempt.status,
    error: o.attempt.error,
  });
}

/** Adds deliveries to a webhook's log and drops those past the newest KEPT_DELIVERIES. */
async function keep(s: SchedulerDeps, webhook: string, outcomes: readonly Outcome[]): Promise<void> {
  await kept(s).createMany(outcomes.map((o) => ({ key: `${prefixOf(webhook)}${o.at.toISOString()}|${o.delivery.id}`, value: { ...records.encode(deliveryOf(o)), body: o.delivery.body } })));
  const keys = (await kept(s).list({ prefix: prefixOf(webhook) })).map((r) => r.key);
  await Promise.all(keys.slice(0, Math.max(0, keys.length - KEPT_DELIVERIES)).map((key) => kept(s).delete(key)));
}

/**
 * RedeliverWebhookDelivery: the kept delivery's event sent again now, once, with its body
 * and id, to the webhook's URL as it is now; recorded as a delivery of its own.
 */
export async function redeliver(s: SchedulerDeps, req: RedeliverWebhookDeliveryRequest): Promise<WebhookDelivery> {
  const { webhook } = await readWebhook(s, req.name);
  const found = (await kept(s).list({ prefix: prefixOf(req.name) })).findLast((r) => r.key.endsWith(`|${req.deliveryId}`));
  if (!found || !req.deliveryId) {
    throw notFound("DELIVERY_NOT_FOUND", `webhook ${req.name} keeps no delivery ${printable(req.deliveryId)} (it keeps its last ${KEPT_DELIVERIES})`, { webhook: req.name });
  }
  const before = records.decode(found.value);
  const delivery = { id: before.id, event: before.event, resource: before.resource, time: timestampDate(before.eventTime!), body: found.value.body };
  const attempt = await post(webhook, delivery, { networks: s.settings.webhookNetworks });
  const outcome = { delivery, attempt, attempts: 1, at: nowOf(s) };
  await keep(s, req.name, [outcome]);
  return deliveryOf(outcome);
}

/** A deleted webhook's deliveries go with it. */
export async function dropDeliveries(s: SchedulerDeps, webhook: string): Promise<void> {
  const keys = (await kept(s).list({ prefix: prefixOf(webhook) })).map((r) => r.key);
  await Promise.all(keys.map((key) => kept(s).delete(key)));
}

export async function listDeliveries(s: SchedulerDeps, req: ListWebhookDeliveriesRequest): Promise<{ deliveries: WebhookDelivery[]; nextPageToken: string }> {
  await readWebhook(s, req.name);
  const page = await scanPage(kept(s), { prefix: prefixOf(req.name), pageSize: req.pageSize, pageToken: req.pageToken, filterText: "", reverse: true });
  return { deliveries: page.items.map(records.decode), nextPageToken: page.nextPageToken };
}
