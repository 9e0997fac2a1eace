import { createMemoryBus } from "../src/index.js";
import { describeEventBus } from "./bus-conformance.js";

describeEventBus("memory", async () => {
  const bus = createMemoryBus();
  return { bus, cleanup: () => bus.close() };
});
