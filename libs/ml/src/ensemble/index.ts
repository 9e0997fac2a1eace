export * from "./random-forest-classifier.js";
export * from "./random-forest-regressor.js";
export * from "./hist-gradient-boosting-classifier.js";
export * from "./hist-gradient-boosting-regressor.js";
export type { BoostingParams } from "./boosting.js";
export type { ForestParams } from "./forest.js";
