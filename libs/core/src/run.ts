import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { ConfigError, loadConfig, redactConfig, type Config } from "./config.js";
import { applyHeapGrowth } from "./heap.js";
import { createLogger, type Logger } from "./logger.js";
import { serve, type HttpRoute, type KilnServer } from "./server.js";
import { startTelemetry } from "./telemetry.js";

export interface RunningProcess {
  server: KilnServer;
  config: Config;
  logger: Logger;
  /** Graceful stop: server first, then what setup opened. */
  stop(): Promise<void>;
}

export interface ProcessSpec {
  name: string;
  files: readonly DescFile[];
  /** Refuses a configuration this process cannot work with (throws ConfigError), before anything opens. */
  check?(config: Config): void;
  /** Opens backends and returns the routes plus a closer for what it opened. */
  setup(config: Config, logger: Logger): Promise<{
    routes: (router: ConnectRouter) => void;
    httpRoutes?: HttpRoute[];
    /** Runs once the server listens (e.g. an embedded client of the server itself). */
    listening?(url: string): Promise<void>;
    /** Runs first on stop, while the server still answers. */
    stopping?(): Promise<void>;
    close(): Promise<void>;
  }>;
}

/**
 * Start-up shared by every Kiln process: config from the environment (a bad value
 * stops start-up naming the variable), one log line with the redacted config,
 * telemetry, the server, and a graceful stop on SIGTERM/SIGINT.
 */
export async function runProcess(spec: ProcessSpec, env: NodeJS.ProcessEnv = process.env, handleSignals = true): Promise<RunningProcess> {
  let config: Config;
  try {
    config = loadConfig(env);
    spec.check?.(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${spec.name}: bad configuration: ${e.message}\n`);
      process.exitCode = 2;
    }
    throw e;
  }
  applyHeapGrowth(config.heapGrowingPercent);
  const logger = createLogger(spec.name, config.logLevel);
  logger.info({ config: redactConfig(config) }, "starting");
  const stopTelemetry = await startTelemetry(spec.name, logger, env);
  const opened = await spec.setup(config, logger);
  const server = await serve({
    host: config.host,
    port: config.port,
    logger,
    routes: opened.routes,
    httpRoutes: opened.httpRoutes,
    files: spec.files,
    maxMessageBytes: config.limits.maxMessageBytes,
    corsOrigins: config.corsOrigins,
  });
  logger.info({ url: server.url }, "listening");
  try {
    await opened.listening?.(server.url);
  } catch (e) {
    await server.close();
    await opened.close();
    throw e;
  }
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info("stopping");
      await opened.stopping?.();
      await server.close();
      await opened.close();
      await stopTelemetry();
      logger.info("stopped");
    })());
  if (handleSignals) {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      process.once(signal, () => void stop().then(() => process.exit(0), () => process.exit(1)));
    }
  }
  return { server, config, logger, stop };
}
