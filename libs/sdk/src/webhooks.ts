import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { WebhookSchema, type Webhook, type WebhookDelivery, type WebhookService } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { call } from "./errors.js";
import { resourceName, shortName } from "./names.js";
import { allPages } from "@kiln/contracts";

export interface WebhookSpec {
  /** Where the events are POSTed: http:// or https://. */
  url: string;
  /** "job.failed", "model_version.created", "tag.moved", "dataset.version_created", a family ("job.*"), or "*". */
  events: string[];
  /** Signs each delivery: header Kiln-Signature, `sha256=` and the hex HMAC-SHA256 of the body. */
  secret?: string;
  description?: string;
  paused?: boolean;
}

export interface WebhookInfo {
  name: string;
  id: string;
  url: string;
  events: string[];
  /** Whether deliveries are signed (the secret itself is never given back). */
  hasSecret: boolean;
  description: string;
  paused: boolean;
  /** Its last delivery: when, the HTTP status (0: no answer), why it failed. */
  lastDeliveryTime?: Date;
  lastStatus: number;
  lastError: string;
  deliveredCount: number;
  failedCount: number;
  createTime?: Date;
  updateTime?: Date;
  creator: string;
  updater: string;
}

/** One event sent to a webhook, with every attempt it took. */
export interface WebhookDeliveryInfo {
  /** The event's id (the Kiln-Delivery header). */
  id: string;
  event: string;
  resource: string;
  eventTime?: Date;
  endTime?: Date;
  attempts: number;
  delivered: boolean;
  /** The last attempt's HTTP status (0: no answer) and why it failed. */
  status: number;
  error: string;
}

/** How a TestWebhook ping went. */
export interface WebhookTest {
  delivered: boolean;
  status: number;
  error: string;
}

/**
 * Kiln's events POSTed to a URL (MLflow's registry webhooks): `await kiln.webhooks.create("alerts",
 * { url: "https://hooks.example.com/…", events: ["job.failed", "model_version.created"], secret })`.
 */
export class Webhooks {
  constructor(
    private readonly client: Client<typeof WebhookService>,
    private readonly project: string,
  ) {}

  async create(id: string, spec: WebhookSpec): Promise<WebhookInfo> {
    const res = await call(() => this.client.createWebhook({ parent: `projects/${this.project}`, webhookId: id, webhook: message(spec) }));
    return webhookInfo(res.webhook!);
  }

  async get(id: string): Promise<WebhookInfo> {
    return webhookInfo((await call(() => this.client.getWebhook({ name: this.name(id) }))).webhook!);
  }

  async list(): Promise<WebhookInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.client.listWebhooks({ parent: `projects/${this.project}`, pageSize: 1000, pageToken }));
      return { items: res.webhooks.map(webhookInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Changes what `spec` gives (a secret of "" removes it). */
  async update(id: string, spec: Partial<WebhookSpec>): Promise<WebhookInfo> {
    const fields = { url: "url", events: "events", secret: "secret", description: "description", paused: "paused" } as const;
    const mask = Object.entries(fields)
      .filter(([key]) => spec[key as keyof WebhookSpec] !== undefined)
      .map(([, path]) => path);
    const webhook = message({ url: "", events: [], ...spec });
    webhook.name = this.name(id);
    return webhookInfo((await call(() => this.client.updateWebhook({ webhook, updateMask: mask }))).webhook!);
  }

  pause(id: string): Promise<WebhookInfo> {
    return this.update(id, { paused: true });
  }

  resume(id: string): Promise<WebhookInfo> {
    return this.update(id, { paused: false });
  }

  /** Sends a "ping" event now and says how the URL answered. */
  async test(id: string): Promise<WebhookTest> {
    const { delivered, status, error } = await call(() => this.client.testWebhook({ name: this.name(id) }));
    return { delivered, status, error };
  }

  /** Its last deliveries (up to 100 are kept), newest first. */
  async deliveries(id: string, options: { limit?: number } = {}): Promise<WebhookDeliveryInfo[]> {
    const limit = options.limit ?? 100;
    const res = await call(() => this.client.listWebhookDeliveries({ name: this.name(id), pageSize: limit }));
    return res.deliveries.map(deliveryInfo);
  }

  /** Sends a kept delivery's event again now, once (same body and id), to the URL as it is now. */
  async redeliver(id: string, deliveryId: string): Promise<WebhookDeliveryInfo> {
    return deliveryInfo((await call(() => this.client.redeliverWebhookDelivery({ name: this.name(id), deliveryId }))).delivery!);
  }

  async delete(id: string): Promise<void> {
    await call(() => this.client.deleteWebhook({ name: this.name(id) }));
  }

  private name(id: string): string {
    return resourceName(this.project, "webhooks", id);
  }
}

function deliveryInfo(d: WebhookDelivery): WebhookDeliveryInfo {
  return {
    id: d.id,
    event: d.event,
    resource: d.resource,
    eventTime: d.eventTime ? timestampDate(d.eventTime) : undefined,
    endTime: d.endTime ? timestampDate(d.endTime) : undefined,
    attempts: d.attempts,
    delivered: d.delivered,
    status: d.status,
    error: d.error,
  };
}

function message(spec: WebhookSpec): Webhook {
  return create(WebhookSchema, { url: spec.url, events: spec.events, secret: spec.secret ?? "", description: spec.description ?? "", paused: spec.paused ?? false });
}

export function webhookInfo(w: Webhook): WebhookInfo {
  const date = (t: Webhook["createTime"]) => (t ? timestampDate(t) : undefined);
  return {
    name: w.name,
    id: shortName(w.name),
    url: w.url,
    events: w.events,
    hasSecret: w.hasSecret,
    description: w.description,
    paused: w.paused,
    lastDeliveryTime: date(w.lastDeliveryTime),
    lastStatus: w.lastStatus,
    lastError: w.lastError,
    deliveredCount: Number(w.deliveredCount),
    failedCount: Number(w.failedCount),
    createTime: date(w.createTime),
    updateTime: date(w.updateTime),
    creator: w.creator,
    updater: w.updater,
  };
}
