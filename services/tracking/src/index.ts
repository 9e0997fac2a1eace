import type { ConnectRouter } from "@connectrpc/connect";
import { blobRoute, type HttpRoute } from "@kiln/core";
import { TrackingService } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackingDeps } from "./deps.js";
import { trackingGarbage } from "./garbage.js";
import { INGEST_STREAM, TRACKING_ARTIFACT_PATH_PREFIX } from "@kiln/contracts";
import { startIngest } from "./ingest.js";
import { artifactEndpoints } from "./mlflow-artifacts.js";
import { experimentEndpoints } from "./mlflow-experiments.js";
import { mlflowRoutes } from "./mlflow-http.js";
import { otlpEndpoints } from "./mlflow-otlp.js";
import { traceEndpoints } from "./mlflow-traces.js";
import { loggedModelEndpoints } from "./mlflow-logged-models.js";
import { loggingEndpoints } from "./mlflow-logging.js";
import { modelVersionEndpoints } from "./mlflow-model-versions.js";
import { registeredModelEndpoints } from "./mlflow-registered-models.js";
import { runSearchEndpoints } from "./mlflow-run-search.js";
import { runEndpoints } from "./mlflow-runs.js";
import { createTrackingService } from "./service.js";

export type { TrackingDeps } from "./deps.js";
export { LIMITS } from "./deps.js";
export { createTrackingService } from "./service.js";

/** Prepares the ingest stream and starts consuming it; call once before serving. */
export async function prepareTracking(deps: TrackingDeps): Promise<{ stop(): Promise<void> }> {
  await deps.bus.ensureStream(INGEST_STREAM);
  return startIngest(deps);
}

export function register(router: ConnectRouter, deps: TrackingDeps): void {
  router.service(TrackingService, createTrackingService(deps));
}

export function httpRoutes(deps: TrackingDeps): HttpRoute[] {
  // An upload is garbage until an artifact event names it (checked when the marks are swept).
  const garbage = trackingGarbage(deps);
  return [
    blobRoute(TRACKING_ARTIFACT_PATH_PREFIX, deps.blobs, deps.logger, { maxPutBytes: deps.limits.maxMessageBytes, onStored: (sha256) => garbage.mark([sha256]) }),
    // MLflow's REST API, so MLflow's own clients log to Kiln.
    ...mlflowRoutes(deps, { ...experimentEndpoints(deps), ...runEndpoints(deps), ...runSearchEndpoints(deps), ...loggingEndpoints(deps), ...loggedModelEndpoints(deps),
      ...artifactEndpoints(deps),
      ...traceEndpoints(deps),
      ...otlpEndpoints(deps),
      ...registeredModelEndpoints(deps),
      ...modelVersionEndpoints(deps),
    }),
  ];
}
