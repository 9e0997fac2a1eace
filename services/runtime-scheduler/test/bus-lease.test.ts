import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "@kiln/core";
import { openSqliteMetadataStore, type MetadataStore } from "@kiln/storage";
import { holdInProcessBus, type LeaseOptions } from "../src/bus-lease.js";

const logger = createLogger("test", "silent");

describe("the in-process bus lease (one embedded server on a metadata store at a time)", () => {
  let dir: string;
  let metadata: MetadataStore;
  let clock: number;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-lease-"));
    metadata = openSqliteMetadataStore(join(dir, "metadata.sqlite"));
    clock = Date.UTC(2026, 11, 4);
  });
  afterEach(async () => {
    await metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A process `pid` of `host` (alive unless said otherwise), on the test's clock. */
  const as = (pid: number, host = "a", alive: (pid: number) => boolean = () => true, instance = "one"): LeaseOptions => ({ where: "KILN_DATA_DIR /data", now: () => clock, host, pid, alive, instance });

  it("refuses a second process while the first holds it, naming the holder, and lets it in once the first releases", async () => {
    const first = await holdInProcessBus(metadata, logger, as(100));
    const refusal = holdInProcessBus(metadata, logger, as(200));
    await expect(refusal).rejects.toThrow(
      "another Kiln process (pid 100 on a, since 2026-12-04T00:00:00.000Z) runs embedded on this metadata (KILN_DATA_DIR /data); its jobs wait on its in-process bus, which this process cannot see, so two would run them twice. Stop it first, or give this one its own KILN_DATA_DIR (or run both on NATS: KILN_BUS=nats)",
    );
    await first.release();
    const second = await holdInProcessBus(metadata, logger, as(200));
    await second.release();
  });

  it("takes over at once from a process of this host that is no longer running, or from its own pid's earlier life", async () => {
    await holdInProcessBus(metadata, logger, as(100)); // never released: killed
    const next = await holdInProcessBus(metadata, logger, as(200, "a", (pid) => pid !== 100));
    // The same pid on the same host in the same life is this process (a second server in it); in another life, a container restarted as that pid.
    await expect(holdInProcessBus(metadata, logger, as(200, "a", () => true))).rejects.toThrow(/pid 200 on a/);
    const again = await holdInProcessBus(metadata, logger, as(200, "a", () => true, "two"));
    await again.release();
    await expect(next.release()).resolves.toBeUndefined(); // its lease was taken: releasing deletes nothing of the new holder's
  });

  it("waits for a holder on another host (whose pid it cannot check) to stop renewing for 30 s", async () => {
    await holdInProcessBus(metadata, logger, as(100, "b"));
    clock += 29_000;
    await expect(holdInProcessBus(metadata, logger, as(100, "a"))).rejects.toThrow(/pid 100 on b/);
    clock += 2_000;
    const taken = await holdInProcessBus(metadata, logger, as(100, "a"));
    await taken.release();
    // A lease not renewed for 30 s is left behind on this host too (its pid may belong to another process by now).
    await holdInProcessBus(metadata, logger, as(300));
    clock += 31_000;
    await (await holdInProcessBus(metadata, logger, as(400))).release();
  });
});
