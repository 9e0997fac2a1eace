import { create, toBinary } from "@bufbuild/protobuf";
import { IngestBatchSchema, RunStatus } from "@kiln/proto/kiln/tracking/v1/tracking_pb";

export const METRICS = 50;

/** What an executor publishes for one tracked job: task_call, metrics, task_success, end of run. */
export function jobBatches(job: number): Uint8Array[] {
  const runKey = `projects/default/jobs/j${job}`;
  const experiment = "projects/default/experiments/restarts";
  const metric = (i: number) => ({ id: `${runKey}:1:${i}`, event: "metric", key: "loss", step: BigInt(i), value: { case: "number" as const, value: 1 / (i + 1) } });
  return [
    create(IngestBatchSchema, { experiment, runKey, node: "exec", events: [{ id: `${runKey}:1:call`, event: "task_call", key: "fit" }] }),
    create(IngestBatchSchema, { experiment, runKey, node: "exec", events: Array.from({ length: METRICS }, (_, i) => metric(i)) }),
    create(IngestBatchSchema, { experiment, runKey, node: "exec", events: [{ id: `${runKey}:1:ok`, event: "task_success", key: "fit" }], endStatus: RunStatus.FINISHED }),
  ].map((b) => toBinary(IngestBatchSchema, b));
}
