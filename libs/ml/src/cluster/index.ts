export * from "./kmeans.js";
export * from "./mini-batch-kmeans.js";
