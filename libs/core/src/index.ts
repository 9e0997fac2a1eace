export * from "./errors.js";
export * from "./config.js";
export * from "./logger.js";
export * from "./telemetry.js";
export * from "./health.js";
export * from "./server.js";
export { errorInterceptor } from "./error-interceptor.js";
export { registerReflection } from "./reflection.js";
export * from "./run.js";
