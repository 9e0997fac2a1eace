import { mkdtemp, rm } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

/**
 * A TCP proxy that can lose a response: once armed, it stops passing the server's bytes
 * back, lets the next `bytes` of requests through to the server, waits for the server to
 * act on them, then cuts both connections. The client saw its request go out and no answer.
 */
class LossyProxy {
  private server: Server | undefined;
  private readonly pairs = new Set<[Socket, Socket]>();
  private armed: { bytes: number; cut: () => void } | undefined;
  cuts = 0;

  async start(target: URL): Promise<string> {
    this.server = createServer((client) => {
      const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const forget = () => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("close", forget).on("error", forget);
      upstream.on("close", forget).on("error", forget);
      client.on("data", (d: Buffer) => {
        upstream.write(d);
        if (this.armed && (this.armed.bytes -= d.length) <= 0) {
          const { cut } = this.armed;
          this.armed = undefined;
          setTimeout(cut, 300); // the server stores the batch meanwhile
        }
      });
      upstream.on("data", (d: Buffer) => {
        if (!this.armed) client.write(d);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const address = this.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  /** Loses the answer to the next request of at least `bytes` bytes. */
  loseNextAnswer(bytes: number): Promise<void> {
    return new Promise((resolve) => {
      this.armed = {
        bytes,
        cut: () => {
          this.cuts++;
          for (const [client, upstream] of [...this.pairs]) {
            client.destroy();
            upstream.destroy();
          }
          resolve();
        },
      };
    });
  }

  async stop(): Promise<void> {
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe("tracking through a connection that drops", () => {
  let dir: string;
  let running: RunningProcess;
  const proxy = new LossyProxy();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-tracking-retry-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(dir, "data"), KILN_LOG_LEVEL: "silent" }, false);
  });
  afterAll(async () => {
    await proxy.stop();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("retries a batch whose answer was lost, and the server keeps its events once", async () => {
    const direct = await Kiln.connect(running.server.url);
    await direct.experiment("retry").start(); // the experiment and run 1 exist before the proxy is in the way
    const kiln = await Kiln.connect(await proxy.start(new URL(running.server.url)));
    const run = await kiln.experiment("retry").start();
    const lost = proxy.loseNextAnswer(100_000); // a batch of 20,000 points is far bigger
    for (let i = 0; i < 50_000; i++) run.logMetric("loss", i, { step: i });
    await lost;
    const storedBeforeRetry = (await direct.experiment("retry").data({ run: run.number, key: "loss" })).length;
    expect(storedBeforeRetry).toBeGreaterThan(0); // the server had kept the batch whose answer was lost
    await run.stop(); // flushes: the lost batch again, then the rest
    expect(proxy.cuts).toBe(1);

    const rows = await direct.experiment("retry").data({ run: run.number, key: "loss" });
    expect(rows).toHaveLength(50_000);
    expect(new Set(rows.map((r) => r.step)).size).toBe(50_000);
    kiln.close();
    direct.close();
  });
});
