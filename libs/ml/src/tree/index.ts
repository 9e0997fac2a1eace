export * from "./decision-tree-classifier.js";
export * from "./decision-tree-regressor.js";
export type { Tree } from "./tree.js";
export type { MaxFeatures } from "./params.js";
