import type { DescFile } from "@bufbuild/protobuf";
import type { ConnectRouter } from "@connectrpc/connect";
import { ConfigError, loadConfig, redactConfig, type Config } from "./config.js";
import { applyHeapGrowth } from "./heap.js";
import { createLogger, type Logger } from "./logger.js";
import { configuredAuthorizer } from "./auth/configured.js";
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
  const failed = async (e: unknown, close: () => Promise<void>): Promise<never> => {
    // Said once, in words, on stderr (a process's log may be silenced or go elsewhere); the log has the details.
    logger.error({ err: e }, "could not start");
    process.stderr.write(`${spec.name}: could not start: ${startFailure(e, config)}\n`);
    process.exitCode = 1;
    await close().catch(() => {});
    await stopTelemetry().catch(() => {});
    throw e;
  };
  const opened = await spec.setup(config, logger).catch((e: unknown) => failed(e, async () => {}));
  const server = await serve({
    host: config.host,
    port: config.port,
    logger,
    routes: opened.routes,
    httpRoutes: opened.httpRoutes,
    files: spec.files,
    maxMessageBytes: config.limits.maxMessageBytes,
    corsOrigins: config.corsOrigins,
    auth: configuredAuthorizer(config, logger),
  }).catch((e: unknown) => failed(e, () => opened.close()));
  logger.info({ url: server.url }, "listening");
  try {
    await opened.listening?.(server.url);
  } catch (e) {
    await failed(e, async () => {
      await server.close();
      await opened.close();
    });
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

/** Why a process could not start, in words for whoever started it. */
function startFailure(e: unknown, config: Config): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  const where = `${config.host}:${config.port}`;
  if (code === "EADDRINUSE") return `${where} is already in use (another Kiln running?): stop that process, or set KILN_PORT to another port (0 picks a free one)`;
  if (code === "EACCES" && (e as NodeJS.ErrnoException).syscall === "listen") return `no permission to listen on ${where}: set KILN_PORT above 1023`;
  if (code === "EADDRNOTAVAIL") return `${config.host} is not an address of this machine: set KILN_HOST`;
  return e instanceof Error ? e.message : String(e);
}
