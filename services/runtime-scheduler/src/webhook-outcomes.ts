import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import { WebhookDeliverySchema, type ListWebhookDeliveriesRequest, type WebhookDelivery } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { scanPage } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";
import { protoRecords } from "./proto-records.js";
import type { Attempt, Delivery } from "./webhook-delivery.js";
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

const records = protoRecords("runtime_webhook_deliveries", WebhookDeliverySchema);

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
      const kept = outcomes.slice(-KEPT_DELIVERIES);
      await records.of(this.s).createMany(kept.map((o) => ({ key: `${prefixOf(webhook)}${o.at.toISOString()}|${o.delivery.id}`, value: records.encode(deliveryOf(o)) })));
      await prune(this.s, webhook);
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

/** Drops a webhook's deliveries past the newest KEPT_DELIVERIES. */
async function prune(s: SchedulerDeps, webhook: string): Promise<void> {
  const keys = (await records.of(s).list({ prefix: prefixOf(webhook) })).map((r) => r.key);
  await Promise.all(keys.slice(0, Math.max(0, keys.length - KEPT_DELIVERIES)).map((key) => records.of(s).delete(key)));
}

/** A deleted webhook's deliveries go with it. */
export async function dropDeliveries(s: SchedulerDeps, webhook: string): Promise<void> {
  const keys = (await records.of(s).list({ prefix: prefixOf(webhook) })).map((r) => r.key);
  await Promise.all(keys.map((key) => records.of(s).delete(key)));
}

export async function listDeliveries(s: SchedulerDeps, req: ListWebhookDeliveriesRequest): Promise<{ deliveries: WebhookDelivery[]; nextPageToken: string }> {
  await readWebhook(s, req.name);
  const page = await scanPage(records.of(s), { prefix: prefixOf(req.name), pageSize: req.pageSize, pageToken: req.pageToken, filterText: "", reverse: true });
  return { deliveries: page.items.map(records.decode), nextPageToken: page.nextPageToken };
}
