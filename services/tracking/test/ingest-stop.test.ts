import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { INGEST_STREAM, INGEST_SUBJECT_PREFIX } from "@kiln/contracts";
import type { TrackingDeps } from "../src/deps.js";
import { startIngest } from "../src/ingest.js";
import { jobBatches, METRICS } from "./ingest-batches.js";
import { testDeps } from "./test-deps.js";

describe("ingesting from the in-process bus (embedded mode), whose messages end with the process", () => {
  let dir: string;
  let deps: TrackingDeps;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-ingest-"));
    deps = testDeps(dir);
    await deps.bus.ensureStream(INGEST_STREAM);
  });
  afterAll(async () => {
    await deps.bus.close();
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("stores every batch published before it stops, none left unread", async () => {
    const ingest = await startIngest(deps);
    const jobs = 20;
    for (let job = 0; job < jobs; job++) for (const data of jobBatches(job)) await deps.bus.publish(`${INGEST_SUBJECT_PREFIX}.restarts`, data);
    await ingest.stop();
    let rows = 0;
    for await (const page of deps.events.query({ experiment: "projects/default/experiments/restarts", runs: { all: true } })) rows += page.length;
    expect(rows).toBe(jobs * (METRICS + 2));
  });
});
