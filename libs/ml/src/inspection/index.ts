export * from "./shapley.js";
