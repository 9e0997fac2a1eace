import { createHmac } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { startHttpReceiver } from "@kiln/core/testing";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { startWebhooks, type WebhookDispatcher } from "../src/webhook-dispatcher.js";
import { refusedAddress } from "../src/webhook-address.js";
import { failure, PROJECT, startHarness, uniqueName, type Harness } from "./harness.js";

interface Delivered {
  id: string;
  event: string;
  time: string;
  project: string;
  resource: string;
  data: Record<string, unknown>;
}

/** A receiver whose requests' bodies are read as deliveries. */
async function receiver(status?: () => number) {
  const r = await startHttpReceiver(status);
  return { ...r, get received() {
    return r.received.map((x) => ({ ...x, json: JSON.parse(x.body) as Delivered }));
  } };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("webhooks: events POSTed to a URL", () => {
  let h: Harness;
  let dispatcher: WebhookDispatcher;
  beforeEach(async () => {
    h = await startHarness();
    dispatcher = await startWebhooks(h.scheduler, { retryDelaysMs: [30, 30] });
  });
  afterEach(async () => {
    await dispatcher.stop();
    await h.close();
  });

  const create = async (id: string, webhook: Parameters<Harness["webhooks"]["createWebhook"]>[0]["webhook"], parent = PROJECT) =>
    (await h.webhooks.createWebhook({ parent, webhookId: id, webhook })).webhook!;
  const get = async (id: string) => (await h.webhooks.getWebhook({ name: `${PROJECT}/webhooks/${id}` })).webhook!;

  it("delivers the events asked for, of its project, signed, with an id receivers can drop repeats by", async () => {
    const r = await receiver();
    const other = await receiver();
    try {
      const made = await create("alerts", { url: r.url, events: ["job.cancelled", "model_version.created", "dataset.*"], secret: "s3cret", description: "to the team" });
      expect(made).toMatchObject({ url: r.url, events: ["job.cancelled", "model_version.created", "dataset.*"], secret: "", hasSecret: true, description: "to the team", deliveredCount: 0n });
      await create("elsewhere", { url: other.url, events: ["*"] }, "projects/other");

      const dataset = uniqueName("ds");
      await h.kiln.datasets.put(dataset, [{ a: 1 }]);
      const model = uniqueName("m");
      await h.kiln.models.put(model, new Uint8Array([1, 2, 3]), { format: "pickle" });
      // Queued, then cancelled: only the cancel was asked for.
      const job = (await h.runtime.submitJob({ parent: PROJECT, job: { kind: JobKind.NOOP, requiredLabels: ["nowhere"] } })).job!;
      await h.runtime.cancelJob({ name: job.name });

      await until(() => r.received.length >= 4, "four deliveries");
      const events = r.received.map((x) => x.json.event).sort();
      expect(events).toEqual(["dataset.created", "dataset.version_created", "job.cancelled", "model_version.created"]);
      const cancelled = r.received.find((x) => x.json.event === "job.cancelled")!;
      expect(cancelled.json).toMatchObject({ project: PROJECT, resource: job.name, data: { job: { name: job.name, state: "JOB_STATE_CANCELLED", kind: "JOB_KIND_NOOP" } } });
      expect(cancelled.headers).toMatchObject({ "content-type": "application/json", "kiln-event": "job.cancelled", "kiln-delivery": cancelled.json.id });
      expect(cancelled.headers["kiln-signature"]).toBe(`sha256=${createHmac("sha256", "s3cret").update(cancelled.body).digest("hex")}`);
      const version = r.received.find((x) => x.json.event === "model_version.created")!;
      expect(version.json.resource).toBe(`${PROJECT}/models/${model}/versions/1`);
      expect(new Set(r.received.map((x) => x.json.id)).size).toBe(4);
      // Another project's webhook hears nothing of this one.
      expect(other.received).toEqual([]);
      await until(async () => (await get("alerts")).deliveredCount === 4n, "the count");
      expect(await get("alerts")).toMatchObject({ lastStatus: 204, lastError: "", failedCount: 0n });
    } finally {
      await r.close();
      await other.close();
    }
  });

  it("tries again after a failure, gives up after its attempts and counts it; a paused one is sent nothing", async () => {
    let calls = 0;
    const flaky = await receiver(() => (++calls === 1 ? 503 : 200));
    const down = await receiver(() => 500);
    try {
      await create("flaky", { url: flaky.url, events: ["dataset.created"] });
      await create("down", { url: down.url, events: ["dataset.created"] });
      await h.kiln.datasets.put(uniqueName("ds"), [{ a: 1 }]);
      await until(async () => (await get("flaky")).deliveredCount === 1n && (await get("down")).failedCount === 1n, "both outcomes");
      expect(flaky.received).toHaveLength(2);
      expect(flaky.received[0]!.json.id).toBe(flaky.received[1]!.json.id);
      expect(down.received).toHaveLength(3); // the first attempt and two more
      expect(await get("down")).toMatchObject({ lastStatus: 500, lastError: "HTTP 500: not today", deliveredCount: 0n });
      // Each delivery with every attempt it took.
      const [flakyDelivery] = (await h.webhooks.listWebhookDeliveries({ name: `${PROJECT}/webhooks/flaky` })).deliveries;
      expect(flakyDelivery).toMatchObject({ id: flaky.received[0]!.json.id, event: "dataset.created", attempts: 2, delivered: true, status: 200, error: "" });
      expect(flakyDelivery!.resource).toMatch(new RegExp(`^${PROJECT}/datasets/ds_`));
      const [failed] = (await h.webhooks.listWebhookDeliveries({ name: `${PROJECT}/webhooks/down` })).deliveries;
      expect(failed).toMatchObject({ attempts: 3, delivered: false, status: 500, error: "HTTP 500: not today" });

      // The receiver fixed (here: moved), the event sent again: the same body and id, recorded anew.
      const fixed = await receiver();
      try {
        await h.webhooks.updateWebhook({ webhook: { name: `${PROJECT}/webhooks/down`, url: fixed.url }, updateMask: ["url"] });
        const again = (await h.webhooks.redeliverWebhookDelivery({ name: `${PROJECT}/webhooks/down`, deliveryId: failed!.id })).delivery!;
        expect(again).toMatchObject({ id: failed!.id, event: "dataset.created", resource: failed!.resource, attempts: 1, delivered: true, status: 204 });
        expect(fixed.received[0]!.body).toBe(down.received[0]!.body);
        expect(fixed.received[0]!.headers["kiln-delivery"]).toBe(failed!.id);
        expect((await h.webhooks.listWebhookDeliveries({ name: `${PROJECT}/webhooks/down` })).deliveries.map((d) => d.delivered)).toEqual([true, false]);
        expect(await failure(h.webhooks.redeliverWebhookDelivery({ name: `${PROJECT}/webhooks/down`, deliveryId: "evt-none" }))).toMatchObject({ code: Code.NotFound, reason: "DELIVERY_NOT_FOUND" });
      } finally {
        await fixed.close();
      }

      await h.webhooks.updateWebhook({ webhook: { name: `${PROJECT}/webhooks/flaky`, paused: true }, updateMask: ["paused"] });
      await h.kiln.datasets.put(uniqueName("ds"), [{ a: 1 }]);
      await until(async () => (await get("down")).failedCount === 2n, "the second event");
      expect(flaky.received).toHaveLength(2);
    } finally {
      await flaky.close();
      await down.close();
    }
  });

  it("is sent the events from when it was made or resumed on: not those before, nor those of its pause", async () => {
    const r = await receiver();
    try {
      const before = uniqueName("before");
      await h.kiln.datasets.put(before, [{ a: 1 }]); // no webhook active: not even read
      const made = await create("fresh", { url: r.url, events: ["dataset.created"] });
      expect(made.activeSince).toEqual(made.createTime);
      const after = uniqueName("after");
      await h.kiln.datasets.put(after, [{ a: 1 }]);
      await until(() => r.received.length === 1, "the event after");
      await h.webhooks.updateWebhook({ webhook: { name: `${PROJECT}/webhooks/fresh`, paused: true }, updateMask: ["paused"] });
      const paused = uniqueName("paused");
      await h.kiln.datasets.put(paused, [{ a: 1 }]);
      const resumed = (await h.webhooks.updateWebhook({ webhook: { name: `${PROJECT}/webhooks/fresh`, paused: false }, updateMask: ["paused"] })).webhook!;
      expect(resumed.activeSince).toEqual(resumed.updateTime);
      const later = uniqueName("later");
      await h.kiln.datasets.put(later, [{ a: 1 }]);
      await until(() => r.received.length === 2, "the event after the resume");
      await new Promise((done) => setTimeout(done, 300));
      expect(r.received.map((x) => x.json.resource)).toEqual([`${PROJECT}/datasets/${after}`, `${PROJECT}/datasets/${later}`]);
    } finally {
      await r.close();
    }
  });

  it("stops mid-retry at once, recording nothing: the event is left to another scheduler", async () => {
    await dispatcher.stop();
    dispatcher = await startWebhooks(h.scheduler, { retryDelaysMs: [600_000] });
    const down = await receiver(() => 500);
    try {
      await create("down", { url: down.url, events: ["dataset.created"] });
      await h.kiln.datasets.put(uniqueName("ds"), [{ a: 1 }]);
      await until(() => down.received.length === 1, "the first attempt");
      await dispatcher.stop(); // within the test's time, not the ten minutes to the next attempt
      expect(await get("down")).toMatchObject({ deliveredCount: 0n, failedCount: 0n });
    } finally {
      await down.close();
      dispatcher = await startWebhooks(h.scheduler, { retryDelaysMs: [30, 30] });
    }
  });

  it("keeps each webhook's last 100 deliveries, newest first, and drops them with it", async () => {
    const r = await receiver();
    try {
      await create("many", { url: r.url, events: ["job.cancelled"] });
      const jobs = (await h.runtime.submitJobs({ parent: PROJECT, requests: Array.from({ length: 105 }, () => ({ job: { kind: JobKind.NOOP, requiredLabels: ["nowhere"] } })) })).jobs;
      for (const job of jobs) await h.runtime.cancelJob({ name: job.name });
      await until(async () => (await get("many")).deliveredCount === 105n, "105 deliveries counted");
      const name = `${PROJECT}/webhooks/many`;
      const first = await h.webhooks.listWebhookDeliveries({ name, pageSize: 60 });
      const rest = await h.webhooks.listWebhookDeliveries({ name, pageSize: 60, pageToken: first.nextPageToken });
      const listed = [...first.deliveries, ...rest.deliveries];
      expect(listed).toHaveLength(100);
      expect(rest.nextPageToken).toBe("");
      const ends = listed.map((d) => Number(d.endTime!.seconds) * 1000 + d.endTime!.nanos / 1e6);
      expect(ends).toEqual([...ends].sort((a, b) => b - a));
      await h.webhooks.deleteWebhook({ name });
      await create("many", { url: r.url, events: ["job.cancelled"] });
      expect((await h.webhooks.listWebhookDeliveries({ name })).deliveries).toEqual([]);
    } finally {
      await r.close();
    }
    expect(await failure(h.webhooks.listWebhookDeliveries({ name: `${PROJECT}/webhooks/none` }))).toMatchObject({ code: Code.NotFound });
  });

  it("pings a URL on TestWebhook, saying how it went", async () => {
    const r = await receiver();
    try {
      await create("ping", { url: r.url, events: ["*"], secret: "k" });
      expect(await h.webhooks.testWebhook({ name: `${PROJECT}/webhooks/ping` })).toMatchObject({ delivered: true, status: 204, error: "" });
      expect(r.received[0]!.json).toMatchObject({ event: "ping", project: PROJECT, resource: `${PROJECT}/webhooks/ping` });
      expect(r.received[0]!.headers["kiln-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    } finally {
      await r.close();
    }
    // Nothing listens there now.
    expect(await h.webhooks.testWebhook({ name: `${PROJECT}/webhooks/ping` })).toMatchObject({ delivered: false, status: 0, error: "ECONNREFUSED" });
  });

  it("never POSTs to link-local addresses (a cloud's metadata service), refused when made or as a name resolves", async () => {
    for (const url of ["http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/", "http://0.0.0.0:8080/"]) {
      expect(await failure(create(uniqueName("meta"), { url, events: ["*"] }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_URL", message: expect.stringContaining("where webhooks never POST") });
    }
    expect(await h.webhooks.listWebhooks({ parent: PROJECT })).toMatchObject({ webhooks: [] });
    // Loopback and private addresses are fine by default (KILN_WEBHOOK_NETWORKS=any): the other tests' receivers are on 127.0.0.1.
    expect(refusedAddress("127.0.0.1", "any")).toBeUndefined();
    expect(refusedAddress("10.1.2.3", "any")).toBeUndefined();
    expect(refusedAddress("93.184.216.34", "public")).toBeUndefined();
    expect(refusedAddress("2606:2800:220:1::248", "public")).toBeUndefined();
    for (const local of ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.1.1", "100.64.0.1", "::1", "fd12::1", "::ffff:10.0.0.1"]) expect(refusedAddress(local, "public")).toMatch(/loopback or private/);
  });

  it("with KILN_WEBHOOK_NETWORKS=public, refuses loopback and private addresses, given or as a name resolves at delivery", async () => {
    const strict = await startHarness({ settings: { webhookNetworks: "public" } });
    const r = await receiver();
    try {
      const name = (id: string) => `${PROJECT}/webhooks/${id}`;
      expect(await failure(strict.webhooks.createWebhook({ parent: PROJECT, webhookId: "direct", webhook: { url: r.url, events: ["*"] } }))).toMatchObject({ reason: "INVALID_URL", message: expect.stringContaining('KILN_WEBHOOK_NETWORKS is "public"') });
      // A name is resolved at each delivery, and the connection goes to the address checked.
      const byName = r.url.replace("127.0.0.1", "localhost");
      await strict.webhooks.createWebhook({ parent: PROJECT, webhookId: "named", webhook: { url: byName, events: ["*"] } });
      const ping = await strict.webhooks.testWebhook({ name: name("named") });
      expect(ping).toMatchObject({ delivered: false, status: 0, error: expect.stringMatching(/^refused: localhost resolves to (127\.0\.0\.1|::1) is a loopback or private address/) });
      expect(r.received).toHaveLength(0);
    } finally {
      await r.close();
      await strict.close();
    }
  });

  it("changes, lists and deletes webhooks, keeping the secret unless it is changed; refuses bad ones with the right codes", async () => {
    await create("a", { url: "https://example.invalid/a", events: ["job.failed"], secret: "x" });
    const name = `${PROJECT}/webhooks/a`;
    const moved = (await h.webhooks.updateWebhook({ webhook: { name, url: "https://example.invalid/b", events: ["job.*", "tag.moved"] }, updateMask: ["url", "events"] })).webhook!;
    expect(moved).toMatchObject({ url: "https://example.invalid/b", events: ["job.*", "tag.moved"], hasSecret: true });
    expect((await h.webhooks.updateWebhook({ webhook: { name, secret: "" }, updateMask: ["secret"] })).webhook!.hasSecret).toBe(false);
    expect((await h.webhooks.listWebhooks({ parent: PROJECT })).webhooks.map((w) => w.name)).toEqual([name]);

    const refused = (id: string, webhook: Parameters<typeof create>[1]) => failure(create(id, webhook));
    expect(await refused("b", { events: ["*"] })).toMatchObject({ code: Code.InvalidArgument, reason: "URL_REQUIRED" });
    expect(await refused("b", { url: "ftp://x/y", events: ["*"] })).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_URL" });
    expect(await refused("b", { url: "not a url", events: ["*"] })).toMatchObject({ reason: "INVALID_URL" });
    expect(await refused("b", { url: "https://x" })).toMatchObject({ reason: "EVENTS_REQUIRED" });
    expect(await refused("b", { url: "https://x", events: ["job.exploded"] })).toMatchObject({ reason: "INVALID_EVENTS" });
    expect(await refused("b", { url: "https://x", events: ["jobs.*"] })).toMatchObject({ reason: "INVALID_EVENTS" });
    expect(await refused("a", { url: "https://x", events: ["*"] })).toMatchObject({ code: Code.AlreadyExists, reason: "WEBHOOK_EXISTS" });
    expect(await failure(h.webhooks.updateWebhook({ webhook: { name }, updateMask: ["creator"] }))).toMatchObject({ reason: "INVALID_UPDATE_MASK" });
    expect(await failure(h.webhooks.updateWebhook({ webhook: { name, url: "gopher://x" }, updateMask: ["url"] }))).toMatchObject({ reason: "INVALID_URL" });
    expect((await get("a")).url).toBe("https://example.invalid/b");

    await h.webhooks.deleteWebhook({ name });
    expect(await failure(get("a"))).toMatchObject({ code: Code.NotFound, reason: "WEBHOOK_NOT_FOUND" });
    expect(await failure(h.webhooks.deleteWebhook({ name }))).toMatchObject({ code: Code.NotFound });
    expect((await h.webhooks.listWebhooks({ parent: PROJECT })).webhooks).toEqual([]);
  });
});
