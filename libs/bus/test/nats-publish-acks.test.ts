import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { connect, headers, NoRespondersError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { PublishAcks } from "../src/nats-publish-acks.js";
import { startNatsServer, type NatsServer } from "../src/testing/index.js";

describe("JetStream publish acknowledgements through one inbox", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let acks: PublishAcks;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "ACKS", subjects: ["acks.>"] });
    acks = new PublishAcks(nc);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  it("resolves each publish once the stream has stored it, many at once", async () => {
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info("ACKS")).state.messages;
    await Promise.all(Array.from({ length: 500 }, (_, i) => acks.publish("acks.n", new TextEncoder().encode(String(i)), undefined, 2000)));
    expect((await jsm.streams.info("ACKS")).state.messages).toBe(before + 500);
  });

  it("honours msg ids: a duplicate is acknowledged and not stored again", async () => {
    const jsm = await jetstreamManager(nc);
    const h = () => {
      const x = headers();
      x.set("Nats-Msg-Id", "same");
      return x;
    };
    await acks.publish("acks.dup", new Uint8Array([1]), h(), 2000);
    const stored = (await jsm.streams.info("ACKS")).state.messages;
    await acks.publish("acks.dup", new Uint8Array([1]), h(), 2000);
    expect((await jsm.streams.info("ACKS")).state.messages).toBe(stored);
  });

  it("fails with nats.js's own errors: no responders, a JetStream API error, a timeout", async () => {
    await expect(acks.publish("nobody.listens", new Uint8Array(), undefined, 2000)).rejects.toBeInstanceOf(NoRespondersError);
    const expectOther = headers();
    expectOther.set("Nats-Expected-Stream", "OTHER"); // the stream refuses a publish meant for another
    const refused = await acks.publish("acks.x", new Uint8Array(), expectOther, 2000).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(JetStreamApiError);
    const silent = nc.subscribe("silent.subject"); // a listener that never answers
    const started = Date.now();
    await expect(acks.publish("silent.subject", new Uint8Array(), undefined, 300)).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    silent.unsubscribe();
  });

  it("close() fails what still waits", async () => {
    const own = new PublishAcks(nc);
    const silent = nc.subscribe("silent.close");
    const waiting = own.publish("silent.close", new Uint8Array(), undefined, 60_000);
    own.close(new Error("closing"));
    await expect(waiting).rejects.toThrow("closing");
    silent.unsubscribe();
  });
});
