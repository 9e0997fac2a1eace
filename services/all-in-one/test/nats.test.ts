import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { connectNatsBus, type EventBus } from "@kiln/bus";
import { startNatsServer, type NatsServer } from "@kiln/bus/testing";
import type { RunningProcess } from "@kiln/core";
import { startHttpReceiver } from "@kiln/core/testing";
import { DatasetEventSchema } from "@kiln/proto/kiln/store/v1/store_pb";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

describe("Kiln on NATS JetStream", () => {
  let dir: string;
  let nats: NatsServer;
  let running: RunningProcess;
  let bus: EventBus;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-nats-"));
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent", KILN_BUS: "nats", KILN_NATS_URL: nats.url }, false);
    bus = await connectNatsBus({ servers: nats.url });
  });
  afterAll(async () => {
    await bus?.close();
    await running?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("publishes dataset events to the KILN_STORE stream, durably", async () => {
    const kiln = await Kiln.connect(running.server.url);
    await kiln.datasets.put("events", { x: [1, 2] });
    await kiln.datasets.drop("events");
    const sub = await bus.subscribe({ stream: "KILN_STORE", durable: "test_reader", filterSubject: "kiln.store.v1.dataset.>" });
    const seen: { subject: string; dataset: string; version?: bigint }[] = [];
    for await (const m of sub) {
      const e = fromBinary(DatasetEventSchema, m.data);
      seen.push({ subject: m.subject, dataset: e.dataset, version: e.version?.version });
      m.ack();
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([
      { subject: "kiln.store.v1.dataset.created", dataset: "projects/default/datasets/events", version: undefined },
      { subject: "kiln.store.v1.dataset.version_created", dataset: "projects/default/datasets/events", version: 1n },
      { subject: "kiln.store.v1.dataset.deleted", dataset: "projects/default/datasets/events", version: undefined },
    ]);
  });

  it("delivers events to a webhook through JetStream's durable consumers", async () => {
    const r = await startHttpReceiver();
    try {
      const kiln = await Kiln.connect(running.server.url);
      await kiln.webhooks.create("new-versions", { url: r.url, events: ["model_version.created", "dataset.version_created"], secret: "k" });
      await kiln.datasets.put("hooked", { x: [1, 2] });
      await kiln.models.put("hooked", new Uint8Array([1, 2, 3]), { format: "pickle" });
      for (let i = 0; r.received.length < 2; i++) {
        if (i > 200) throw new Error("no deliveries came");
        await new Promise((done) => setTimeout(done, 50));
      }
      const bodies = r.received.map((x) => JSON.parse(x.body) as { event: string; resource: string });
      expect(bodies.map((b) => [b.event, b.resource]).sort()).toEqual([
        ["dataset.version_created", "projects/default/datasets/hooked"],
        ["model_version.created", "projects/default/models/hooked/versions/1"],
      ]);
      expect(r.received[0]!.headers["kiln-signature"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    } finally {
      await r.close();
    }
  });
});
