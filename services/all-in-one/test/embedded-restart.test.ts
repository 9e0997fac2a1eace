import { mkdtemp, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RunningProcess } from "@kiln/core";
import { startHttpReceiver } from "@kiln/core/testing";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";

describe("embedded mode restarted (its in-process bus starts empty)", () => {
  let dir: string;
  let env: Record<string, string>;
  let running: RunningProcess | undefined;
  let client: Kiln | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-restart-"));
    env = { KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent" };
  });
  afterEach(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** An embedded server on the test's data (its executor with these labels), and a client of it. */
  async function start(more: Record<string, string> = {}): Promise<Kiln> {
    running = await runEmbedded({ ...env, ...more }, false);
    return (client = await Kiln.connect(running.server.url));
  }

  async function stop(): Promise<void> {
    client?.close();
    await running?.stop();
    client = running = undefined;
  }

  it("runs the jobs the stopped process had queued or running, none lost", async () => {
    let kiln = await start();
    // One waits for an executor labelled "later"; one is running when the process stops.
    const waiting = await kiln.runtime.require({ labels: ["later"] }).noop();
    const long = await kiln.runtime.noop({ params: { sleep_ms: 2_000 } });
    await expect.poll(async () => (await long.info()).state, { timeout: 10_000 }).toBe("running");
    await stop();

    kiln = await start({ KILN_EXECUTOR_LABELS: "later" });
    expect((await kiln.runtime.job(waiting.id).wait()).state).toBe("succeeded");
    const rerun = await kiln.runtime.job(long.id).wait();
    expect(rerun.state).toBe("succeeded");
    expect(rerun.attempts.map((a) => a.error?.reason ?? "")).toEqual(["EXECUTOR_LOST", ""]);
  });

  it("finishes the webhook deliveries the stopped process was still trying, with the attempts they had left", async () => {
    let status = 500;
    const receiver = await startHttpReceiver(() => status);
    try {
      let kiln = await start();
      await kiln.webhooks.create("alerts", { url: receiver.url, events: ["dataset.created"] });
      await kiln.datasets.put("sales", [{ a: 1 }]);
      // Its first attempt failed; the next waits a second, and the process stops meanwhile.
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
      await stop();
      status = 200;
      kiln = await start();
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(2);
      const [first, again] = receiver.received;
      expect(again!.headers["kiln-delivery"]).toBe(first!.headers["kiln-delivery"]);
      expect(JSON.parse(again!.body)).toMatchObject({ event: "dataset.created", resource: "projects/default/datasets/sales" });
      await expect.poll(async () => (await kiln.webhooks.get("alerts")).deliveredCount, { timeout: 10_000 }).toBe(1);
      const [delivery] = await kiln.webhooks.deliveries("alerts");
      expect(delivery).toMatchObject({ event: "dataset.created", attempts: 2, delivered: true });
    } finally {
      await receiver.close();
    }
  });

  it("counts an attempt the stop cut short as made (the receiver may have it), and sends the same id again after the next start", async () => {
    // A receiver slow to answer at first: the stop lands while the first attempt waits for it.
    let slow = true;
    const receiver = await startHttpReceiver(() => 200, () => (slow ? 5_000 : 0));
    try {
      let kiln = await start();
      await kiln.webhooks.create("alerts", { url: receiver.url, events: ["dataset.created"] });
      await kiln.datasets.put("sales", [{ a: 1 }]);
      await expect.poll(() => receiver.received.length, { timeout: 10_000 }).toBe(1);
      await stop();
      slow = false;
      kiln = await start();
      await expect.poll(async () => (await kiln.webhooks.get("alerts")).deliveredCount, { timeout: 10_000 }).toBe(1);
      const ids = receiver.received.map((r) => String(r.headers["kiln-delivery"]));
      expect(ids).toEqual([ids[0], ids[0]]);
      expect((await kiln.webhooks.deliveries("alerts"))[0]).toMatchObject({ event: "dataset.created", attempts: 2, delivered: true });
    } finally {
      await receiver.close();
    }
  });

  it("delivers after the next start the events the stopped process had not read yet", async () => {
    let status = 500;
    const receiver = await startHttpReceiver(() => status);
    try {
      let kiln = await start();
      await kiln.webhooks.create("alerts", { url: receiver.url, events: ["dataset.created"] });
      // 64 deliveries are tried at once: these fail and wait to be tried again, so the last 6 events are not read when the process stops.
      for (let i = 0; i < 70; i++) await kiln.datasets.put(`sales-${i}`, [{ a: i }]);
      const ids = () => new Set(receiver.received.map((r) => r.headers["kiln-delivery"]));
      await expect.poll(() => ids().size, { timeout: 10_000 }).toBe(64);
      await stop();
      const before = receiver.received.length;
      status = 200;
      kiln = await start();
      const after = () => new Set(receiver.received.slice(before).map((r) => r.headers["kiln-delivery"]));
      await expect.poll(() => after().size, { timeout: 15_000 }).toBe(70);
      expect(ids().size).toBe(70);
      await expect.poll(async () => (await kiln.webhooks.get("alerts")).deliveredCount, { timeout: 10_000 }).toBe(70);
    } finally {
      await receiver.close();
    }
  });

  it("refuses a second embedded server on the same data while the first runs (it would run the first one's jobs twice)", async () => {
    let kiln = await start();
    const waiting = await kiln.runtime.require({ labels: ["later"] }).noop();
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      await expect(runEmbedded({ ...env, KILN_EXECUTOR_LABELS: "later" }, false)).rejects.toThrow(`another Kiln process (pid ${process.pid} on ${hostname()}`);
      expect(String(stderr.mock.calls[0]?.[0])).toMatch(new RegExp(`^kiln: could not start: .*runs embedded on this metadata \\(KILN_DATA_DIR ${dir}\\)`));
    } finally {
      stderr.mockRestore();
      process.exitCode = undefined;
    }
    // The job the first one queued stays its own; once it stops, the next one takes the data and runs it.
    expect((await waiting.info()).state).toBe("queued");
    await stop();
    kiln = await start({ KILN_EXECUTOR_LABELS: "later" });
    expect((await kiln.runtime.job(waiting.id).wait()).state).toBe("succeeded");
  });
});
