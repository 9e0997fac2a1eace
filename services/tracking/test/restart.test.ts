import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus, type EventBus } from "@kiln/bus";
import { startNatsServer, type NatsServer } from "@kiln/bus/testing";
import { Kiln } from "@kiln/sdk";
import { INGEST_STREAM, INGEST_SUBJECT_PREFIX } from "@kiln/contracts";
import { startService, type ServiceProcess } from "../../executor/test/processes.js";
import { jobBatches, METRICS } from "./ingest-batches.js";

const JOBS = 20;

describe("the tracking service as its own process, ingesting from NATS JetStream", () => {
  let dir: string;
  let nats: NatsServer;
  let bus: EventBus;
  let tracking: ServiceProcess;
  const start = () => startService("tracking", { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_PORT: "0", KILN_DATA_DIR: join(dir, "tracking") });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-restart-"));
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
    bus = await connectNatsBus({ servers: nats.url });
    await bus.ensureStream(INGEST_STREAM);
    tracking = await start();
  }, 30_000);
  afterAll(async () => {
    await tracking?.stop();
    await bus?.close();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("loses and duplicates nothing when it is killed and restarted while jobs log", async () => {
    const publishJob = async (job: number) => {
      for (const data of jobBatches(job)) await bus.publish(`${INGEST_SUBJECT_PREFIX}.restarts`, data);
    };
    for (let job = 0; job < JOBS / 2; job++) await publishJob(job);
    await tracking.kill(); // mid-ingest, no goodbye
    for (let job = JOBS / 2; job < JOBS; job++) await publishJob(job);
    await publishJob(3); // an executor retrying a publish: the same events again
    tracking = await start();

    const kiln = await Kiln.connect(tracking.url);
    try {
      const exp = kiln.experiment("restarts");
      await expect.poll(async () => (await exp.runs().catch(() => [])).filter((r) => r.status === "finished").length, { timeout: 40_000 }).toBe(JOBS);
      // A batch in flight when the service died comes back after the ack wait, maybe after later ones.
      await expect.poll(async () => (await exp.data({ run: "all" })).length, { timeout: 40_000 }).toBe(JOBS * (METRICS + 2));
      const rows = await exp.data({ run: "all" });
      expect(rows.filter((r) => r.event === "metric")).toHaveLength(JOBS * METRICS);
      expect(rows.filter((r) => r.event === "task_call")).toHaveLength(JOBS);
      expect(rows.filter((r) => r.event === "task_success")).toHaveLength(JOBS);
      expect(new Set(rows.map((r) => r.run)).size).toBe(JOBS);
    } finally {
      kiln.close();
    }
  }, 60_000);
});
