import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "@kiln/core";
import { openBus } from "../src/index.js";
import { Reader, text } from "./reader.js";

describe("the bus embedded mode opens", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), "kiln-open-bus-"))));
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it("keeps events for KILN_EVENTS_TTL_MS and large payloads in a folder of the process's own under KILN_DATA_DIR/bus", async () => {
    const bus = await openBus(loadConfig({ KILN_DATA_DIR: dir, KILN_EVENTS_TTL_MS: "1000" }));
    const spill = join(dir, "bus", String(process.pid));
    try {
      await bus.ensureStream({ name: "EVENTS", subjects: ["e.>"] });
      await bus.publish("e.old", text("old"));
      await bus.publish("e.big", new Uint8Array(256 * 1024).fill(7));
      expect(existsSync(join(spill, "segment-1"))).toBe(true);
      await new Promise((r) => setTimeout(r, 1_300));
      await bus.publish("e.new", text("new"));
      const reader = new Reader(await bus.subscribe({ stream: "EVENTS", durable: "d" }));
      expect((await reader.take()).subject).toBe("e.new");
      await reader.none(200);
      expect(existsSync(join(spill, "segment-1"))).toBe(true); // written on until full
      await reader.sub.stop();
    } finally {
      await bus.close();
    }
    expect(existsSync(spill)).toBe(false);
  });
});
