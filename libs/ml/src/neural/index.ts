export * from "./mlp-classifier.js";
export * from "./mlp-regressor.js";
export type { MLPParams } from "./training.js";
export type { Activation } from "./activations.js";
