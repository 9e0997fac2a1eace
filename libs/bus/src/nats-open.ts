import type { EventBus } from "./bus.js";
import type { NatsBusOptions } from "./nats-bus.js";

/** Connects to NATS JetStream; nats.js loads on first use, so embedded mode never holds it in memory. */
export async function connectNatsBus(opts: NatsBusOptions): Promise<EventBus> {
  return (await import("./nats-bus.js")).connectNatsBus(opts);
}
