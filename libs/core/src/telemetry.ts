import type { Logger } from "pino";

/**
 * Starts the OpenTelemetry Node SDK when the standard OTEL_* variables ask for it
 * (OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_ENDPOINT); otherwise does nothing, so
 * embedded mode and tests pay nothing. The SDK reads its own settings from the env.
 */
export async function startTelemetry(serviceName: string, logger: Logger, env = process.env): Promise<() => Promise<void>> {
  const wanted = env.OTEL_TRACES_EXPORTER && env.OTEL_TRACES_EXPORTER !== "none";
  if (!wanted && !env.OTEL_EXPORTER_OTLP_ENDPOINT) return async () => {};
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  if (!env.OTEL_SERVICE_NAME) env.OTEL_SERVICE_NAME = serviceName;
  const sdk = new NodeSDK();
  sdk.start();
  logger.info({ serviceName }, "telemetry started");
  return () => sdk.shutdown();
}
