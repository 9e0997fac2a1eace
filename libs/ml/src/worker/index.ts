export * from "./training-pool.js";
