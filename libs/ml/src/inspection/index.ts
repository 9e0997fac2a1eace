export * from "./shapley.js";
export * from "./explain-estimator.js";
