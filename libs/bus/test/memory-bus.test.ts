import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
