import { createHmac } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { setTimeout } from "node:timers/promises";
import type { Webhook } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import type { SchedulerDeps } from "./deps.js";
import { nowOf } from "./job-store.js";
import { guardedLookup, refusedHost, RefusedAddressError, type WebhookNetworks } from "./webhook-address.js";
import type { DeliveryOutcomes } from "./webhook-outcomes.js";

/** How long a URL has to answer one delivery. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** The waits before the attempts after the first: 1 s, 10 s, 1 min, 5 min. */
export const RETRY_DELAYS_MS = [1_000, 10_000, 60_000, 300_000];
/** What is kept of an answer's body in last_error. */
const ERROR_BODY = 200;

/** One event for one webhook: the same id (and body) in every attempt. */
export interface Delivery {
  id: string;
  event: string;
  /** What the event is about, and when it happened. */
  resource: string;
  time: Date;
  body: string;
}

/** An event as a delivery: the body every attempt POSTs, `{id, event, time, project, resource, data}`. */
export function eventDelivery(e: Omit<Delivery, "body"> & { project: string; data: unknown }): Delivery {
  const body = JSON.stringify({ id: e.id, event: e.event, time: e.time.toISOString(), project: e.project, resource: e.resource, data: e.data });
  return { id: e.id, event: e.event, resource: e.resource, time: e.time, body };
}

export interface Attempt {
  delivered: boolean;
  /** The HTTP status (0: no answer came). */
  status: number;
  error: string;
}

/** Connections kept open between deliveries to the same URLs (node's http client: a fifth of fetch's CPU per call). */
const AGENTS = { "http:": new http.Agent({ keepAlive: true, maxSockets: 64 }), "https:": new https.Agent({ keepAlive: true, maxSockets: 64 }) };

export interface PostOptions {
  /** Where it may go (KILN_WEBHOOK_NETWORKS). */
  networks: WebhookNetworks;
  /** Aborts the POST, which then throws. */
  stop?: AbortSignal;
  timeoutMs?: number;
}

/** POSTs the delivery once, signed with the webhook's secret if it has one. */
export async function post(webhook: Pick<Webhook, "url" | "secret">, delivery: Delivery, { networks, stop, timeoutMs = DELIVERY_TIMEOUT_MS }: PostOptions): Promise<Attempt> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(delivery.body)),
    "user-agent": "Kiln-Webhooks",
    "kiln-event": delivery.event,
    "kiln-delivery": delivery.id,
  };
  if (webhook.secret) headers["kiln-signature"] = `sha256=${createHmac("sha256", webhook.secret).update(delivery.body).digest("hex")}`;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
  try {
    const { status, text } = await request(webhook.url, headers, delivery.body, signal, networks);
    if (status >= 200 && status < 300) return { delivered: true, status, error: "" };
    return { delivered: false, status, error: `HTTP ${status}${text ? `: ${text.slice(0, ERROR_BODY)}` : ""}` };
  } catch (e) {
    stop?.throwIfAborted();
    const err = e as Error & { code?: string };
    const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : err instanceof RefusedAddressError ? `refused: ${err.message}` : (err.code ?? err.message);
    return { delivered: false, status: 0, error: why };
  }
}

/**
 * One POST (no redirects followed): the status and the start of the answer's body. A kept
 * connection the server had closed meanwhile is not the URL's failure: that is sent again
 * on a new one. An address `networks` refuses, given or resolved, is not connected to.
 */
function request(url: string, headers: Record<string, string>, body: string, signal: AbortSignal, networks: WebhookNetworks, fresh = false): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const refused = refusedHost(target, networks);
  if (refused) return Promise.reject(new RefusedAddressError(refused));
  const send = target.protocol === "https:" ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const options = { method: "POST", headers, agent: AGENTS[target.protocol as keyof typeof AGENTS], signal, lookup: guardedLookup(networks) };
    const req = send(target, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        if (text.length < ERROR_BODY) text += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      res.on("error", reject);
    });
    req.on("error", (e: Error & { code?: string }) => {
      if (!fresh && req.reusedSocket && e.code === "ECONNRESET") request(url, headers, body, signal, networks, true).then(resolve, reject);
      else reject(e);
    });
    req.end(body);
  });
}

/**
 * Delivers until a 2xx or the attempts run out, waiting `delaysMs` between them (calling
 * `keepAlive` meanwhile, so the event is not handed to another scheduler), and hands the
 * outcome to `outcomes`. Resolves whether it delivered; throws, recording nothing, once
 * `stop` aborts (the scheduler stopping: the event goes to another), after telling
 * `abandoned` how many attempts were made. `made`: attempts made before (a delivery
 * resumed after a restart), which count towards its attempts and delays.
 */
export async function deliver(
  s: SchedulerDeps,
  webhook: Webhook,
  delivery: Delivery,
  delaysMs: readonly number[],
  keepAlive: () => void,
  stop: AbortSignal,
  outcomes: DeliveryOutcomes,
  made = 0,
  abandoned?: (attempts: number) => void,
): Promise<boolean> {
  let attempt: Attempt = { delivered: false, status: 0, error: "" };
  let attempts = made;
  try {
    while (attempts <= delaysMs.length) {
      if (attempts > made) await waitKeepingAlive(delaysMs[attempts - 1]!, keepAlive, stop);
      stop.throwIfAborted();
      // Counted once under way: a stop during it keeps it as made (the receiver may have it).
      attempts++;
      attempt = await post(webhook, delivery, { networks: s.settings.webhookNetworks, stop });
      if (attempt.delivered) break;
      s.logger.warn({ webhook: webhook.name, event: delivery.event, delivery: delivery.id, attempt: attempts, error: attempt.error }, "a webhook delivery failed");
    }
  } catch (e) {
    if (stop.aborted) abandoned?.(attempts);
    throw e;
  }
  outcomes.add(webhook.name, { delivery, attempt, attempts, at: nowOf(s) });
  return attempt.delivered;
}

/** Keep-alive well within any ack wait. */
const KEEP_ALIVE_MS = 5_000;

async function waitKeepingAlive(ms: number, keepAlive: () => void, stop: AbortSignal): Promise<void> {
  for (let left = ms; left > 0; left -= KEEP_ALIVE_MS) {
    await setTimeout(Math.min(left, KEEP_ALIVE_MS), undefined, { signal: stop });
    keepAlive();
  }
}
