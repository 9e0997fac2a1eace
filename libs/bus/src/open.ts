import type { Config } from "@kiln/core";
import type { EventBus } from "./bus.js";
import { join } from "node:path";
import { createMemoryBus } from "./memory-bus.js";
import { spillDirFor } from "./payload-spill.js";
import { connectNatsBus } from "./nats-open.js";

/**
 * The bus the config names: in-process for embedded mode (its large payloads, job results,
 * in a folder of this process's under KILN_DATA_DIR/bus), NATS JetStream otherwise.
 */
export async function openBus(config: Config, name = "kiln"): Promise<EventBus> {
  const defaultMaxAgeMs = config.bus.eventsTtlMs;
  if (config.bus.backend === "nats") return connectNatsBus({ servers: config.bus.servers, name, defaultMaxAgeMs });
  return createMemoryBus({ spillDir: spillDirFor(join(config.dataDir, "bus")), defaultMaxAgeMs });
}
