import type { ConnectRouter } from "@connectrpc/connect";
import { consoleRoute } from "@kiln/console";
import { ExecutorService, RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { SchedulerDeps } from "./deps.js";
import { EVENT_STREAM, type Scheduler } from "./job-store.js";
import { QUEUE_STREAM, RESULTS_STREAM } from "@kiln/contracts";
import { buildJobIndexes } from "./job-indexes.js";
import { createDeploymentService, createExecutorService, createInferenceGraphService, createRuntimeService, createScheduleService, createWebhookService } from "./service.js";
import { InferenceGraphService } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { WebhookService } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { ScheduleService } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { GRPCInferenceService } from "@kiln/proto/inference/grpc_predict_v2_pb";
import { createRequire } from "node:module";
import { createInferenceService } from "./inference-protocol.js";
import { inferenceRestRoute } from "./inference-rest.js";
import { inferenceV1Route } from "./inference-rest-v1.js";
import { metricsRoute } from "./metrics-route.js";
import type { HttpRoute } from "@kiln/core";
import { JobWatchers } from "./watchers.js";
import { Recent, RecentByKey } from "./recent.js";
import { GraphStats } from "./inference-graph-stats.js";
import { readInferenceGraph, SERVED_GRAPH_MAX_AGE_MS } from "./inference-graphs.js";
import { aliveExecutors } from "./executors.js";
import { allDeployments } from "./deployments.js";
import { allWebhooks } from "./webhooks.js";
import { buildDueIndex } from "./schedule-due.js";
import { allSchedules } from "./schedules.js";

/** How stale the list of webhooks may be in a scheduler that did not make the change. */
const WEBHOOKS_MAX_AGE_MS = 2_000;

/** The scheduler's version, as the inference protocol's server metadata gives it. */
const { version } = createRequire(import.meta.url)("../package.json") as { version: string };

export type { SchedulerDeps, SchedulerSettings } from "./deps.js";
export { EVENT_STREAM } from "./job-store.js";

/** Prepares the scheduler's streams (events, the job queues, results) and its indexes of jobs; call once before serving. */
export async function prepareScheduler(deps: SchedulerDeps): Promise<Scheduler> {
  await deps.bus.ensureStream(EVENT_STREAM);
  await deps.bus.ensureStream(QUEUE_STREAM);
  await deps.bus.ensureStream({ ...RESULTS_STREAM, maxAgeMs: deps.settings.resultsTtlMs });
  await buildJobIndexes(deps);
  await buildDueIndex(deps, () => allSchedules(deps));
  const recently = deps.settings.heartbeatMs / 2;
  return {
    ...deps,
    watchers: new JobWatchers(),
    alive: new Recent(() => aliveExecutors(deps), recently),
    deployments: new Recent(() => allDeployments(deps), recently),
    webhooks: new Recent(() => allWebhooks(deps), WEBHOOKS_MAX_AGE_MS),
    inferenceGraphs: new RecentByKey(async (name) => (await readInferenceGraph(deps, name)).graph, SERVED_GRAPH_MAX_AGE_MS),
    graphStats: new GraphStats(),
    requestRates: new Map(),
  };
}

/**
 * The Open Inference Protocol's REST form (/v2/...) beside the gRPC services, Prometheus'
 * /metrics, and the web console's files (/ui/): the scheduler gives them out as any process
 * could; the page calls every service through the origin it came from (the proxy, or the
 * embedded server).
 */
export function httpRoutes(scheduler: Scheduler): HttpRoute[] {
  return [inferenceRestRoute(scheduler, version), inferenceV1Route(scheduler), metricsRoute(scheduler), consoleRoute()];
}

export function register(router: ConnectRouter, scheduler: Scheduler): void {
  router.service(RuntimeService, createRuntimeService(scheduler));
  router.service(ExecutorService, createExecutorService(scheduler));
  router.service(DeploymentService, createDeploymentService(scheduler));
  router.service(ScheduleService, createScheduleService(scheduler));
  router.service(WebhookService, createWebhookService(scheduler));
  router.service(InferenceGraphService, createInferenceGraphService(scheduler));
  router.service(GRPCInferenceService, createInferenceService(scheduler, version));
}
export { localExecutorControl } from "./local-control.js";
export { requeueAfterRestart } from "./lost-queue.js";
export { holdInProcessBus, type BusLease } from "./bus-lease.js";
export { startSchedules } from "./schedule-runner.js";
export { startAutoscaler } from "./autoscaler.js";
export { startWebhooks, type WebhookOptions } from "./webhook-dispatcher.js";
