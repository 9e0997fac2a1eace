import { openBus } from "@kiln/bus";
import { REGISTRY_CHUNK_PATH_PREFIX, STORE_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import { applyHeapGrowth, ConfigError, createLogger, loadConfig, requireSharedBus, serviceToken, type Config } from "@kiln/core";
import { openBlobStore } from "@kiln/storage";
import { startExecutor } from "./start.js";

/**
 * An executor as its own process (`node services/executor/dist/main.js`): it serves no
 * RPCs; it pulls jobs from NATS and talks to the other services at KILN_URL.
 */
let config: Config;
try {
  config = loadConfig();
  requireSharedBus(config, "an executor");
} catch (e) {
  if (e instanceof ConfigError) process.stderr.write(`kiln-executor: bad configuration: ${e.message}\n`);
  process.exit(2);
}
applyHeapGrowth(config.heapGrowingPercent);
const logger = createLogger("kiln-executor", config.logLevel);
const bus = await openBus(config, "kiln-executor").catch(couldNotStart);
// With KILN_EXECUTOR_DIRECT_BLOBS, the services' blob stores as this process's config names them.
const directBlobs = config.runtime.executor.directBlobs ? await openDirectBlobs(config) : undefined;
const token = serviceToken(config, "kiln-executor");
const running = await startExecutor({ ...config.runtime, token }, bus, logger, { directBlobs }).catch(couldNotStart);
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

async function openDirectBlobs(config: Config) {
  try {
    return { [STORE_CHUNK_PATH_PREFIX]: await openBlobStore(config, "store"), [REGISTRY_CHUNK_PATH_PREFIX]: await openBlobStore(config, "registry") };
  } catch (e) {
    process.stderr.write(`kiln-executor: KILN_EXECUTOR_DIRECT_BLOBS: cannot open the blob stores: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}

function couldNotStart(e: unknown): never {
  logger.error({ err: e }, "could not start");
  process.stderr.write(`kiln-executor: could not start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
