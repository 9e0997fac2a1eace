export * from "./bus.js";
export { createMemoryBus, type MemoryBusOptions } from "./memory-bus.js";
export { connectNatsBus } from "./nats-open.js";
export type { NatsBusOptions } from "./nats-bus.js";
export { openBus } from "./open.js";
export { subjectMatches, subjectsCollide } from "./subjects.js";
export { DEFAULT_ACK_WAIT_MS } from "./consumer-settings.js";
