import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus, type EventBus } from "../src/index.js";
import { startNatsServer, type NatsServer } from "../src/testing/index.js";
import { describeEventBus } from "./bus-conformance.js";
import { Reader, str, text } from "./reader.js";

let server: NatsServer;

beforeAll(async () => {
  server = await startNatsServer();
});

afterAll(async () => {
  await server?.stop();
});

describeEventBus("nats", async (options) => {
  const bus = await connectNatsBus({ ...options, servers: server.url, name: "bus-conformance" });
  return { bus, cleanup: () => bus.close() };
});

describe("NATS bus across a server restart", () => {
  let bus: EventBus;

  beforeAll(async () => {
    bus = await connectNatsBus({ servers: server.url, name: "bus-restart" });
  });

  afterAll(async () => {
    await bus?.close();
  });

  it("keeps queued and unacked messages, and the durable's place, through a restart", async () => {
    const id = randomUUID().slice(0, 8);
    const stream = `S_${id}`;
    const subj = `t_${id}`;
    await bus.ensureStream({ name: stream, subjects: [`${subj}.>`], retention: "workqueue" });
    for (const n of [1, 2, 3]) await bus.publish(`${subj}.job`, text(`job-${n}`), { msgId: `job-${n}` });

    const r = new Reader(await bus.subscribe({ stream, durable: "workers", ackWaitMs: 1_000 }));
    const done = await r.take();
    done.ack();
    const held = await r.take();

    await server.restart();

    // The same connection reconnects and publishes again; dedupe ids of stored messages survive.
    await bus.publish(`${subj}.job`, text("job-2 again"), { msgId: "job-2" });
    await bus.publish(`${subj}.job`, text("job-4"), { msgId: "job-4" });

    const got = new Map<string, number>();
    while (got.size < 3) {
      const m = await r.take(15_000);
      got.set(str(m.data), m.deliveryCount);
      m.ack();
    }
    await r.none(300);
    await r.sub.stop();

    expect(str(done.data)).toBe("job-1");
    expect(str(held.data)).toBe("job-2");
    expect(Object.fromEntries(got)).toEqual({ "job-2": 2, "job-3": 1, "job-4": 1 });
  });
});
