/**
 * What Kiln's parts agree on beyond the proto (bus streams and subjects, headers, error
 * code names, reserved labels, attachment and metadata names, model-kind rules): the
 * services and the SDK each use these, and no service imports another's code.
 */
export * from "./runtime-bus.js";
export * from "./tracking-bus.js";
export * from "./event-streams.js";
export * from "./error-codes.js";
export * from "./model-conventions.js";
export * from "./http-paths.js";
export * from "./score-metrics.js";
export * from "./explainer-params.js";
export * from "./pages.js";
