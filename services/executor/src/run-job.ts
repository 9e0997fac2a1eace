import { JobKind, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { runDrift } from "./drift.js";
import { runExplain } from "./explain.js";
import { runFit } from "./fit.js";
import { runInference } from "./inference.js";
import type { JobContext } from "./job-context.js";
import { JobFailure } from "./job-failure.js";
import { runNoop } from "./noop.js";

export function runJob(ctx: JobContext): Promise<JobResult> {
  switch (ctx.job.kind) {
    case JobKind.NOOP:
      return runNoop(ctx);
    case JobKind.DRIFT:
      return runDrift(ctx);
    case JobKind.EXPLAIN:
      return runExplain(ctx);
    case JobKind.FIT:
    case JobKind.PARTIAL_FIT:
      return runFit(ctx);
    case JobKind.PREDICT:
    case JobKind.PREDICT_PROBA:
    case JobKind.TRANSFORM:
    case JobKind.SCORE:
      return runInference(ctx);
    default:
      return Promise.reject(new JobFailure("UNIMPLEMENTED", "UNKNOWN_JOB_KIND", `this executor cannot run jobs of kind ${ctx.job.kind}`));
  }
}
