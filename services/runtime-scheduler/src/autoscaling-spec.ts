import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "@kiln/core";
import { AutoscalingSchema, type Autoscaling } from "@kiln/proto/kiln/runtime/v1/deployments_pb";

const DEFAULT_SCALE_DOWN_DELAY_MS = 60_000;
const MAX_SCALE_DOWN_DELAY_MS = 3_600_000;

/** A deployment's autoscaling checked, with its defaults; none when not given. */
export function checkedAutoscaling(given: Autoscaling | undefined, maxReplicas: number): Autoscaling | undefined {
  if (!given) return undefined;
  const min = given.minReplicas || 1;
  if (!(min >= 1 && min <= maxReplicas)) throw invalidArgument("INVALID_AUTOSCALING", `autoscaling.min_replicas must be 1 to ${maxReplicas}, got ${given.minReplicas}`);
  if (!(given.maxReplicas >= min && given.maxReplicas <= maxReplicas)) {
    throw invalidArgument("INVALID_AUTOSCALING", `autoscaling.max_replicas must be min_replicas (${min}) to ${maxReplicas}, got ${given.maxReplicas}`);
  }
  if (!(Number.isFinite(given.targetRequestsPerSecond) && given.targetRequestsPerSecond > 0)) {
    throw invalidArgument("INVALID_AUTOSCALING", `autoscaling.target_requests_per_second must be above 0: the requests a second one replica should answer, got ${given.targetRequestsPerSecond}`);
  }
  const delay = given.scaleDownDelay ? durationMs(given.scaleDownDelay) : DEFAULT_SCALE_DOWN_DELAY_MS;
  if (!(delay >= 0 && delay <= MAX_SCALE_DOWN_DELAY_MS)) throw invalidArgument("INVALID_AUTOSCALING", `autoscaling.scale_down_delay must be 0 to ${MAX_SCALE_DOWN_DELAY_MS / 1000} s`);
  return create(AutoscalingSchema, { minReplicas: min, maxReplicas: given.maxReplicas, targetRequestsPerSecond: given.targetRequestsPerSecond, scaleDownDelay: durationFromMs(delay), scaleToZero: given.scaleToZero });
}

/** The replicas a request rate wants: rate / target, rounded up, within the bounds; none for no request when it may scale to zero. */
export function wantedReplicas(a: Autoscaling, requestsPerSecond: number): number {
  if (a.scaleToZero && requestsPerSecond === 0) return 0;
  return Math.min(a.maxReplicas, Math.max(a.minReplicas, Math.ceil(requestsPerSecond / a.targetRequestsPerSecond - 1e-9)));
}
