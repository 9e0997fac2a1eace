import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createMemoryBus } from "../src/index.js";
import { describeEventBus } from "./bus-conformance.js";

describeEventBus("memory", async (options) => {
  const bus = createMemoryBus(options);
  return { bus, cleanup: () => bus.close() };
});

describeEventBus("memory, every payload spilled to disk", async (options) => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-spill-"));
  const bus = createMemoryBus({ ...options, spillDir: join(dir, "spill"), spillAtBytes: 0 });
  return {
    bus,
    async cleanup() {
      await bus.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("the in-process bus's drain", () => {
  it("hands out every message there is, redeliveries first, before the iteration ends", async () => {
    const bus = createMemoryBus();
    try {
      await bus.ensureStream({ name: "D", subjects: ["d.>"] });
      for (let i = 1; i <= 5; i++) await bus.publish(`d.${i}`, new TextEncoder().encode(String(i)));
      const sub = await bus.subscribe({ stream: "D", durable: "reader" });
      const seen: string[] = [];
      for await (const m of sub) {
        seen.push(`${m.subject}#${m.deliveryCount}`);
        if (m.subject === "d.1" && m.deliveryCount === 1) {
          m.nak();
          await sub.drain();
        } else m.ack();
      }
      expect(seen).toEqual(["d.1#1", "d.1#2", "d.2#1", "d.3#1", "d.4#1", "d.5#1"]);
    } finally {
      await bus.close();
    }
  });
});
