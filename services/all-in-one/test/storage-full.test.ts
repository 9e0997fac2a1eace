import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import type { RunningProcess } from "@kiln/core";
import { DatasetKind, StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

/** A real full disk needs a small file system of its own: a tmpfs, which only root may mount (and not in every container). */
const canMount = ((): boolean => {
  if (process.getuid?.() !== 0 || process.platform !== "linux") return false;
  const probe = mkdtempSync(join(tmpdir(), "kiln-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
})();

describe.skipIf(!canMount)("a server whose storage is full (a 6 MiB tmpfs)", () => {
  let dir: string;
  let running: RunningProcess | undefined;
  let kiln: Kiln;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-full-"));
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", dir]);
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
    kiln = await Kiln.connect(running.server.url);
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    execFileSync("umount", [dir]);
    await rm(dir, { recursive: true, force: true });
  });

  const table = (rows: number) => tableFromArrays({ x: Float64Array.from({ length: rows }, (_, i) => Math.sin(i)) });

  it("refuses a write it has no room for with ResourceExhausted STORAGE_FULL, stores nothing, and takes one that fits", async () => {
    // By reference (the SDK PUTs the chunks): the PUT that finds no room answers 507.
    await expect(kiln.datasets.put("too-big", table(1_500_000))).rejects.toMatchObject({ code: Code.ResourceExhausted, reason: "STORAGE_FULL", message: expect.stringContaining("the server's storage is full") });
    // Inline chunks in the write stream: the same words over gRPC.
    const store = createClient(StoreService, createGrpcTransport({ baseUrl: running!.server.url }));
    const inline = store.writeDataset(
      (async function* () {
        yield { message: { case: "header" as const, value: { name: "projects/default/datasets/too-big", kind: DatasetKind.TABLE, endsWithCommit: true } } };
        yield { message: { case: "chunk" as const, value: { data: tableToIPC(table(900_000)) } } };
        yield { message: { case: "commit" as const, value: { pieces: 1n } } };
      })(),
    );
    await expect(inline).rejects.toMatchObject({ code: Code.ResourceExhausted, rawMessage: expect.stringContaining("the server's storage is full: nothing was stored") });
    expect((await kiln.datasets.list()).map((d) => d.name)).toEqual([]);
    expect(await kiln.datasets.put("fits", table(1_000))).toMatchObject({ version: 1, rowCount: 1_000 });
  });
});
