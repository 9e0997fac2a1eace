export type { ExecutorDeps } from "./deps.js";
export { Executor } from "./executor.js";
export { startExecutor, type RunningExecutor, type InProcessServices, type ServiceAccess } from "./start.js";
