import { createHmac } from "node:crypto";
import { setTimeout } from "node:timers/promises";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { isKilnError } from "@kiln/core";
import type { Webhook } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import type { SchedulerDeps } from "./deps.js";
import { nowOf } from "./job-store.js";
import { changeWebhook } from "./webhooks.js";

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
  body: string;
}

export interface Attempt {
  delivered: boolean;
  /** The HTTP status (0: no answer came). */
  status: number;
  error: string;
}

/** POSTs the delivery once, signed with the webhook's secret if it has one; `stop` aborts it (and throws). */
export async function post(webhook: Pick<Webhook, "url" | "secret">, delivery: Delivery, stop?: AbortSignal, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<Attempt> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "user-agent": "Kiln-Webhooks",
    "kiln-event": delivery.event,
    "kiln-delivery": delivery.id,
  };
  if (webhook.secret) headers["kiln-signature"] = `sha256=${createHmac("sha256", webhook.secret).update(delivery.body).digest("hex")}`;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    const res = await fetch(webhook.url, { method: "POST", headers, body: delivery.body, redirect: "manual", signal: stop ? AbortSignal.any([timeout, stop]) : timeout });
    const text = await res.text().catch(() => "");
    if (res.ok) return { delivered: true, status: res.status, error: "" };
    return { delivered: false, status: res.status, error: `HTTP ${res.status}${text ? `: ${text.slice(0, ERROR_BODY)}` : ""}` };
  } catch (e) {
    stop?.throwIfAborted();
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const why = err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : (err.cause?.code ?? err.cause?.message ?? err.message);
    return { delivered: false, status: 0, error: why };
  }
}

/**
 * Delivers until a 2xx or the attempts run out, waiting `delaysMs` between them (calling
 * `keepAlive` meanwhile, so the event is not handed to another scheduler), and records the
 * outcome on the webhook. Resolves whether it delivered; throws, recording nothing, once
 * `stop` aborts (the scheduler stopping: the event goes to another).
 */
export async function deliver(s: SchedulerDeps, webhook: Webhook, delivery: Delivery, delaysMs: readonly number[], keepAlive: () => void, stop: AbortSignal): Promise<boolean> {
  let attempt: Attempt = { delivered: false, status: 0, error: "" };
  for (let i = 0; i <= delaysMs.length; i++) {
    if (i > 0) await waitKeepingAlive(delaysMs[i - 1]!, keepAlive, stop);
    attempt = await post(webhook, delivery, stop);
    if (attempt.delivered) break;
    s.logger.warn({ webhook: webhook.name, event: delivery.event, delivery: delivery.id, attempt: i + 1, error: attempt.error }, "a webhook delivery failed");
  }
  await record(s, webhook.name, attempt).catch((e: unknown) => {
    if (!isKilnError(e, Code.NotFound)) s.logger.warn({ err: e, webhook: webhook.name }, "could not record a webhook's delivery"); // deleted meanwhile: nothing to record
  });
  return attempt.delivered;
}

async function record(s: SchedulerDeps, name: string, attempt: Attempt): Promise<void> {
  await changeWebhook(s, name, (webhook) => {
    webhook.lastDeliveryTime = timestampFromDate(nowOf(s));
    webhook.lastStatus = attempt.status;
    webhook.lastError = attempt.error;
    if (attempt.delivered) webhook.deliveredCount++;
    else webhook.failedCount++;
  });
}

/** Keep-alive well within any ack wait. */
const KEEP_ALIVE_MS = 5_000;

async function waitKeepingAlive(ms: number, keepAlive: () => void, stop: AbortSignal): Promise<void> {
  for (let left = ms; left > 0; left -= KEEP_ALIVE_MS) {
    await setTimeout(Math.min(left, KEEP_ALIVE_MS), undefined, { signal: stop });
    keepAlive();
  }
}
