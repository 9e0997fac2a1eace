import { openBus } from "@kiln/bus";
import { applyHeapGrowth, ConfigError, createLogger, loadConfig, type Config } from "@kiln/core";
import { startExecutor } from "./start.js";

/**
 * An executor as its own process (`node services/executor/dist/main.js`): it serves no
 * RPCs; it pulls jobs from NATS and talks to the other services at KILN_URL.
 */
let config: Config;
try {
  config = loadConfig();
} catch (e) {
  if (e instanceof ConfigError) process.stderr.write(`kiln-executor: bad configuration: ${e.message}\n`);
  process.exit(2);
}
applyHeapGrowth(config.heapGrowingPercent);
const logger = createLogger("kiln-executor", config.logLevel);
const bus = await openBus(config, "kiln-executor");
const running = await startExecutor(config.runtime, bus, logger);
logger.info({ name: running.deps.name, labels: running.deps.labels, slots: running.deps.slots }, "executor running");
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    void running
      .stop()
      .then(() => bus.close())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  });
}
