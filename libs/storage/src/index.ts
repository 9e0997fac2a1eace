export * from "./metadata.js";
export * from "./blob.js";
