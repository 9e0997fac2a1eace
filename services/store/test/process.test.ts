import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Kiln } from "@kiln/sdk";

const main = join(import.meta.dirname, "../dist/main.js");

/** Starts the store as its own process and resolves with the URL it logs. */
async function startStore(env: Record<string, string>): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const entry = JSON.parse(line) as { msg: string; url?: string };
    if (entry.msg === "listening") return { child, url: entry.url! };
  }
  throw new Error("the store exited before listening");
}

describe("the store as its own process", () => {
  let dir: string;
  let store: { child: ChildProcess; url: string };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-store-proc-"));
    store = await startStore({ KILN_PORT: "0", KILN_DATA_DIR: dir });
  });
  afterAll(async () => {
    if (store?.child.exitCode === null) {
      store.child.kill("SIGTERM");
      await once(store.child, "exit");
    }
    await rm(dir, { recursive: true, force: true });
  });

  it("serves the SDK over HTTP/2 and stops gracefully on SIGTERM", async () => {
    const kiln = await Kiln.connect(store.url);
    await kiln.datasets.put("proc", { a: [1, 2, 3] });
    expect((await kiln.datasets.info("proc")).latest?.rowCount).toBe(3);
    store.child.kill("SIGTERM");
    const [code] = await once(store.child, "exit");
    expect(code).toBe(0);
  });

  it("keeps data across a restart", async () => {
    const again = await startStore({ KILN_PORT: "0", KILN_DATA_DIR: dir });
    try {
      const kiln = await Kiln.connect(again.url);
      expect((await kiln.datasets.info("proc")).latestVersion).toBe(1);
    } finally {
      again.child.kill("SIGTERM");
      await once(again.child, "exit");
    }
  });

  it("a bad config value stops start-up with a message naming the variable", async () => {
    const child = spawn(process.execPath, [main], { env: { ...process.env, KILN_PORT: "seventy", KILN_DATA_DIR: dir }, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toContain("KILN_PORT");
  });
});
