export * from "./bus.js";
