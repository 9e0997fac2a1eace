import type { Config } from "@kiln/core";
import type { EventBus } from "./bus.js";
import { createMemoryBus } from "./memory-bus.js";
import { connectNatsBus } from "./nats-open.js";

/** The bus the config names: in-process for embedded mode, NATS JetStream otherwise. */
export async function openBus(config: Config, name = "kiln"): Promise<EventBus> {
  if (config.bus.backend === "nats") return connectNatsBus({ servers: config.bus.servers, name });
  return createMemoryBus();
}
