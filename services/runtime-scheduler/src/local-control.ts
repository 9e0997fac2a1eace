import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  FinishAttemptRequestSchema,
  FinishAttemptsResponseSchema,
  StartAttemptsResponseSchema,
  HeartbeatRequestSchema,
  ReportProgressRequestSchema,
  ReportProgressResponseSchema,
  StartAttemptRequestSchema,
  type ExecutorService,
} from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { finishAttempts, finishResults, reportProgress, single, startAttempts, startResults } from "./attempts.js";
import { heartbeat } from "./executors.js";
import type { Scheduler } from "./job-store.js";

/**
 * The executor calls as direct function calls, for an executor in the scheduler's own
 * process (embedded mode): the same code paths as the RPCs without encoding each job's
 * calls into HTTP/2 and back. Errors arrive as KilnErrors rather than ConnectErrors.
 */
export function localExecutorControl(s: Scheduler): Client<typeof ExecutorService> {
  return {
    heartbeat: async (req) => heartbeat(s, create(HeartbeatRequestSchema, req)),
    startAttempt: async (req) => single(await startAttempts(s, [create(StartAttemptRequestSchema, req)])),
    reportProgress: async (req) => create(ReportProgressResponseSchema, { stop: await reportProgress(s, create(ReportProgressRequestSchema, req)) }),
    finishAttempt: async (req) => single(await finishAttempts(s, [create(FinishAttemptRequestSchema, req)])),
    startAttempts: async (req) =>
      create(StartAttemptsResponseSchema, { results: startResults(s, await startAttempts(s, (req.requests ?? []).map((r) => create(StartAttemptRequestSchema, r)))) }),
    finishAttempts: async (req) =>
      create(FinishAttemptsResponseSchema, { results: finishResults(s, await finishAttempts(s, (req.requests ?? []).map((r) => create(FinishAttemptRequestSchema, r)))) }),
  };
}
