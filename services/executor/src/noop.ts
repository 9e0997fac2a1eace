import { create } from "@bufbuild/protobuf";
import { JobResultSchema, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { checkStopped, type JobContext } from "./job-context.js";
import { JobFailure } from "./job-failure.js";

const STEP_MS = 50;

/** NOOP: for dispatch benchmarks and drills; `sleep_ms` waits (reporting progress), `fail` fails retryably. */
export async function runNoop(ctx: JobContext): Promise<JobResult> {
  const params = ctx.job.params ?? {};
  const sleepMs = Number(params.sleep_ms ?? 0);
  for (let waited = 0; waited < sleepMs; waited += STEP_MS) {
    checkStopped(ctx.signal);
    await new Promise((resolve) => setTimeout(resolve, Math.min(STEP_MS, sleepMs - waited)));
    ctx.progress.update({ fraction: Math.min(1, (waited + STEP_MS) / sleepMs), message: "sleeping" });
  }
  checkStopped(ctx.signal);
  if (typeof params.fail === "string") throw new JobFailure("INTERNAL", "NOOP_FAILED", params.fail, true);
  return create(JobResultSchema, {});
}
