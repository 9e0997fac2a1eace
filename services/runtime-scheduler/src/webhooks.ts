import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { alreadyExists, checkId, invalidArgument, isKilnError, notFound, parseParent, printable } from "@kiln/core";
import {
  WebhookSchema,
  type CreateWebhookRequest,
  type ListWebhooksRequest,
  type UpdateWebhookRequest,
  type Webhook,
} from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { scanPage } from "@kiln/storage";
import type { SchedulerDeps } from "./deps.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { parseResourceName } from "./names.js";
import { protoRecords } from "./proto-records.js";
import { checkEventPatterns } from "./webhook-events.js";
import { refusedHost, type WebhookNetworks } from "./webhook-address.js";
import { changeUnderRevision, checkUpdateMask } from "./updates.js";

const MUTABLE = new Set(["url", "events", "secret", "description", "paused"]);
const MAX_DESCRIPTION = 1024;
const MAX_SECRET = 256;

const records = protoRecords("runtime_webhooks", WebhookSchema);
export const webhooks = records.of;
export const decodeWebhook = records.decode;
const encodeWebhook = records.encode;

export function parseWebhookName(name: string): { project: string; id: string } {
  return parseResourceName(name, "webhooks");
}

/** Every webhook of every project, secrets included: what the dispatcher matches events against. */
export async function allWebhooks(deps: SchedulerDeps): Promise<Webhook[]> {
  return (await webhooks(deps).list({ prefix: "projects/" })).map((r) => decodeWebhook(r.value));
}

/** The webhook as stored, secret included (for delivery); NotFound if there is none. */
export async function readWebhook(s: SchedulerDeps, name: string): Promise<{ webhook: Webhook; rev: number }> {
  parseWebhookName(name);
  const stored = await webhooks(s).get(name);
  if (!stored) throw notFound("WEBHOOK_NOT_FOUND", `webhook ${name} does not exist`, { webhook: name });
  return { webhook: decodeWebhook(stored.value), rev: stored.rev };
}

/** As callers see it: the secret never leaves. */
export function shown(webhook: Webhook): Webhook {
  return create(WebhookSchema, { ...webhook, secret: "", hasSecret: !!webhook.secret });
}

export async function createWebhook(s: Scheduler, req: CreateWebhookRequest, caller = ""): Promise<Webhook> {
  const project = parseParent(req.parent);
  if (!req.webhookId) throw invalidArgument("WEBHOOK_ID_REQUIRED", "webhook_id is required");
  const name = `${project}/webhooks/${checkId(req.webhookId, "webhook")}`;
  const now = timestampFromDate(nowOf(s));
  const webhook = create(WebhookSchema, { name, createTime: now, updateTime: now, activeSince: now, creator: caller, updater: caller });
  applySpec(webhook, req.webhook ?? create(WebhookSchema), MUTABLE, s.settings.webhookNetworks);
  try {
    await webhooks(s).create(name, encodeWebhook(webhook));
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("WEBHOOK_EXISTS", `webhook ${name} already exists`, { webhook: name });
    throw e;
  }
  s.webhooks.forget();
  s.logger.info({ webhook: name, events: webhook.events }, "webhook created");
  return shown(webhook);
}

export async function listWebhooks(s: Scheduler, req: ListWebhooksRequest): Promise<{ webhooks: Webhook[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const page = await scanPage(webhooks(s), { prefix: `${project}/webhooks/`, pageSize: req.pageSize, pageToken: req.pageToken, filterText: "" });
  return { webhooks: page.items.map((r) => shown(decodeWebhook(r))), nextPageToken: page.nextPageToken };
}

export async function updateWebhook(s: Scheduler, req: UpdateWebhookRequest, caller = ""): Promise<Webhook> {
  if (!req.webhook) throw invalidArgument("WEBHOOK_REQUIRED", "webhook is required");
  parseWebhookName(req.webhook.name);
  checkUpdateMask(req.updateMask, MUTABLE);
  const changed = await changeWebhook(s, req.webhook.name, (webhook) => {
    const wasPaused = webhook.paused;
    applySpec(webhook, req.webhook!, new Set(req.updateMask), s.settings.webhookNetworks);
    webhook.updateTime = timestampFromDate(nowOf(s));
    webhook.updater = caller;
    // Resumed: the events of its pause are not sent, even those still to be read.
    if (wasPaused && !webhook.paused) webhook.activeSince = webhook.updateTime;
  });
  s.webhooks.forget();
  return shown(changed);
}

export async function deleteWebhook(s: Scheduler, name: string): Promise<void> {
  const { rev } = await readWebhook(s, name);
  if (!(await webhooks(s).delete(name, rev))) throw notFound("WEBHOOK_NOT_FOUND", `webhook ${name} does not exist`, { webhook: name });
  s.webhooks.forget();
}

/** Reads, changes and writes the webhook under its revision, again if another write came between. */
export function changeWebhook(s: SchedulerDeps, name: string, change: (webhook: Webhook) => void): Promise<Webhook> {
  return changeUnderRevision(
    async () => {
      const { webhook, rev } = await readWebhook(s, name);
      return { value: webhook, rev };
    },
    (webhook, rev) => webhooks(s).update(name, encodeWebhook(webhook), rev),
    change,
  );
}

/** Copies the fields of `fields` from `given` into `into`, checked. */
function applySpec(into: Webhook, given: Webhook, fields: Set<string>, networks: WebhookNetworks): void {
  if (fields.has("url")) into.url = checkUrl(given.url, networks);
  if (fields.has("events")) into.events = checkEventPatterns(given.events);
  if (fields.has("secret")) {
    if (given.secret.length > MAX_SECRET) throw invalidArgument("INVALID_SECRET", `webhook.secret is at most ${MAX_SECRET} characters`);
    into.secret = given.secret;
  }
  if (fields.has("description")) {
    if (given.description.length > MAX_DESCRIPTION) throw invalidArgument("INVALID_DESCRIPTION", `webhook.description is at most ${MAX_DESCRIPTION} characters`);
    into.description = given.description;
  }
  if (fields.has("paused")) into.paused = given.paused;
}

function checkUrl(url: string, networks: WebhookNetworks): string {
  if (!url) throw invalidArgument("URL_REQUIRED", "webhook.url is required: where the events are POSTed (http:// or https://)");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidArgument("INVALID_URL", `webhook.url "${printable(url)}" is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw invalidArgument("INVALID_URL", `webhook.url "${printable(url)}" is not http:// or https://`);
  // A name is checked as it resolves at each delivery; an address can be refused now.
  const refused = refusedHost(parsed, networks);
  if (refused) throw invalidArgument("INVALID_URL", `webhook.url "${printable(url)}": ${refused}`);
  return url;
}
