import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@kiln/bus/testing";
import { startService } from "./processes.js";

const services = join(import.meta.dirname, "../..");

/** Runs a service's main.js to its exit: its status and what it wrote to stderr. */
async function runToExit(name: string, env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(services, name, "dist/main.js")], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  const [code] = (await once(child, "exit")) as [number | null];
  return { code, stderr };
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

describe("Kiln's processes on their own: configuration and start-up", () => {
  let dir: string;
  let nats: NatsServer;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-process-config-"));
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
  });
  afterAll(async () => {
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuse the in-process bus, which would list an executor that never gets a job", async () => {
    for (const [name, said] of [["executor", "an executor"], ["runtime-scheduler", "a runtime scheduler"]] as const) {
      const { code, stderr } = await runToExit(name, { KILN_BUS: "memory", KILN_PORT: "0", KILN_DATA_DIR: join(dir, name) });
      expect(code).toBe(2);
      expect(stderr).toContain(`bad configuration: KILN_BUS: "memory" is this process's own: ${said} on its own meets the others on NATS; set KILN_BUS=nats and KILN_NATS_URL`);
    }
  });

  it("a process that cannot start says why on stderr, in words, and exits 1", async () => {
    const taken = createServer().listen(0, "127.0.0.1");
    await once(taken, "listening");
    const { port } = taken.address() as { port: number };
    try {
      const busy = await runToExit("all-in-one", { KILN_PORT: String(port), KILN_DATA_DIR: join(dir, "busy"), KILN_LOG_LEVEL: "silent" });
      expect(busy.code).toBe(1);
      expect(busy.stderr).toBe(`kiln: could not start: 127.0.0.1:${port} is already in use (another Kiln running?): stop that process, or set KILN_PORT to another port (0 picks a free one)\n`);
    } finally {
      taken.close();
    }
    const noNats = `nats://127.0.0.1:${await closedPort()}`;
    for (const name of ["store", "executor"]) {
      const { code, stderr } = await runToExit(name, { KILN_BUS: "nats", KILN_NATS_URL: noNats, KILN_PORT: "0", KILN_DATA_DIR: join(dir, `no-nats-${name}`), KILN_LOG_LEVEL: "silent" });
      expect(code).toBe(1);
      expect(stderr).toBe(`kiln-${name}: could not start: cannot connect to NATS at ${noNats}: connection refused\n`);
    }
  });

  it("an executor whose scheduler does not answer says so once, not at every heartbeat", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const executor = await startService("executor", { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_URL: url, KILN_EXECUTOR_HEARTBEAT_MS: "100" });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      // The first failure, before "executor running"; fifteen beats later, nothing more.
      expect(executor.logs.filter((l) => l.msg.includes("heartbeat")).map((l) => l.msg)).toEqual(["heartbeat failed; retrying"]);
    } finally {
      await executor.stop();
    }
  });
});
