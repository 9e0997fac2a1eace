import { CommanderError, type Command } from "commander";
import type { Kiln, WebhookInfo } from "@kiln/sdk";
import { collect } from "./key-values.js";
import { printFields, printJson, printTable, shortTime, type Output } from "./output.js";
import { lastSegment } from "./job-show.js";
import { positiveInt } from "./option-values.js";

type Connect = () => Promise<Kiln>;

interface CreateFlags {
  event: string[];
  secretEnv?: string;
  description?: string;
  paused?: boolean;
}

/** Events POSTed to a URL: webhooks, webhooks:create, webhooks:show, webhooks:test, webhooks:deliveries, webhooks:redeliver, webhooks:pause, webhooks:resume, webhooks:delete. */
export function webhookCommands(program: Command, connect: Connect, output: () => Output): void {
  program
    .command("webhooks")
    .description("the webhooks: where each sends which events, and how its deliveries went")
    .action(async () => {
      const o = output();
      const list = await (await connect()).webhooks.list();
      if (o.json) return printJson(o, list);
      printTable(o, list.map(row), ["id", "url", "events", "state", "delivered", "failed", "last"]);
    });

  program
    .command("webhooks:create")
    .description("POST events to URL as JSON (a chat's incoming webhook, a CI trigger): --event job.failed, model_version.created, tag.moved, dataset.version_created, job.* or *")
    .argument("<id>")
    .argument("<url>", "http:// or https://")
    .requiredOption("--event <event>", "an event to send (repeatable, or a,b)", collect)
    .option("--secret-env <var>", "sign each delivery with the secret in this environment variable (header Kiln-Signature: sha256=HMAC of the body)")
    .option("--description <text>")
    .option("--paused", "create it paused")
    .action(async (id: string, url: string, opts: CreateFlags) => {
      const o = output();
      const made = await (await connect()).webhooks.create(id, { url, events: opts.event.flatMap((e) => e.split(",")), secret: secretFrom(opts.secretEnv), description: opts.description, paused: opts.paused });
      if (o.json) return printJson(o, made);
      o.out.write(`webhook ${made.id}: ${made.events.join(", ")} → ${made.url}${made.hasSecret ? " (signed)" : ""}${made.paused ? ", paused" : ""}\n`);
    });

  program
    .command("webhooks:show")
    .description("a webhook: its URL, events, and its last delivery")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const w = await (await connect()).webhooks.get(id);
      if (o.json) return printJson(o, w);
      printFields(o, [
        ["name", w.name],
        ["url", w.url],
        ["events", w.events.join(", ")],
        ["signed", w.hasSecret ? "yes" : "no"],
        ["state", w.paused ? "paused" : "active"],
        ["description", w.description],
        ["delivered", w.deliveredCount],
        ["failed", w.failedCount],
        ["last", lastDelivery(w)],
        ["created", w.creator ? `${shortTime(w.createTime)} by ${w.creator}` : shortTime(w.createTime)],
      ]);
    });

  program
    .command("webhooks:test")
    .description('send the event "ping" to the webhook\'s URL now and say how it answered (exit status 1 if it was not delivered)')
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      const t = await (await connect()).webhooks.test(id);
      if (o.json) printJson(o, t);
      else o.out.write(t.delivered ? `delivered: HTTP ${t.status}\n` : `not delivered: ${t.error}\n`);
      if (!t.delivered) throw new CommanderError(1, "kiln.not_delivered", "not delivered");
    });

  program
    .command("webhooks:deliveries")
    .description("a webhook's last deliveries, newest first (the last 100 are kept): each event, its attempts, how the URL answered")
    .argument("<id>")
    .option("--limit <n>", "at most n", positiveInt, 20)
    .action(async (id: string, opts: { limit: number }) => {
      const o = output();
      const list = await (await connect()).webhooks.deliveries(id, { limit: opts.limit });
      if (o.json) return printJson(o, list);
      printTable(
        o,
        list.map((d) => ({ ended: shortTime(d.endTime), event: d.event, resource: lastSegment(d.resource), attempts: d.attempts, result: d.delivered ? `HTTP ${d.status}` : `failed: ${d.error}`, id: d.id })),
        ["ended", "event", "resource", "attempts", "result", "id"],
      );
    });

  program
    .command("webhooks:redeliver")
    .description("send a kept delivery's event again now, once (same body and Kiln-Delivery id), to the webhook's URL as it is now (exit status 1 if it was not delivered)")
    .argument("<id>")
    .argument("<delivery>", "its id, as webhooks:deliveries lists it")
    .action(async (id: string, delivery: string) => {
      const o = output();
      const d = await (await connect()).webhooks.redeliver(id, delivery);
      if (o.json) printJson(o, d);
      else o.out.write(d.delivered ? `delivered: HTTP ${d.status}\n` : `not delivered: ${d.error}\n`);
      if (!d.delivered) throw new CommanderError(1, "kiln.not_delivered", "not delivered");
    });

  for (const [verb, paused] of [["pause", true], ["resume", false]] as const) {
    program
      .command(`webhooks:${verb}`)
      .description(paused ? "send a webhook nothing (the events meanwhile are not kept for it)" : "send a paused webhook its events again")
      .argument("<id>")
      .action(async (id: string) => {
        const o = output();
        const kiln = await connect();
        const w = paused ? await kiln.webhooks.pause(id) : await kiln.webhooks.resume(id);
        if (o.json) return printJson(o, w);
        o.out.write(`webhook ${w.id} ${paused ? "paused" : "resumed"}\n`);
      });
  }

  program
    .command("webhooks:delete")
    .description("delete a webhook")
    .argument("<id>")
    .action(async (id: string) => {
      const o = output();
      await (await connect()).webhooks.delete(id);
      if (o.json) return printJson(o, { id, deleted: true });
      o.out.write(`deleted webhook ${id}\n`);
    });
}

/** A secret from the environment rather than the command line, which other users of the machine can read. */
function secretFrom(variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const secret = process.env[variable];
  if (!secret) throw new Error(`--secret-env ${variable}: the environment variable is not set`);
  return secret;
}

function lastDelivery(w: WebhookInfo): string {
  if (!w.lastDeliveryTime) return "never";
  return `${shortTime(w.lastDeliveryTime)}: ${w.lastError ? `failed, ${w.lastError}` : `HTTP ${w.lastStatus}`}`;
}

function row(w: WebhookInfo): Record<string, unknown> {
  return { id: w.id, url: w.url, events: w.events.join(", "), state: w.paused ? "paused" : "active", delivered: w.deliveredCount, failed: w.failedCount, last: lastDelivery(w) };
}
