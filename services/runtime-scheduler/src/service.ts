import type { ServiceImpl } from "@connectrpc/connect";
import { ExecutorService, RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { finishAttempt, reportProgress, startAttempt } from "./attempts.js";
import { heartbeat, listExecutors } from "./executors.js";
import type { Scheduler } from "./job-store.js";
import { cancelJob, getJob, listJobs } from "./jobs.js";
import { readJobResults } from "./results.js";
import { submitJob } from "./submit.js";
import { watchJob } from "./watch.js";

export function createRuntimeService(s: Scheduler): ServiceImpl<typeof RuntimeService> {
  return {
    async submitJob(req) {
      return { job: await submitJob(s, req) };
    },
    async getJob(req) {
      return { job: await getJob(s, req.name) };
    },
    async listJobs(req) {
      return listJobs(s, req);
    },
    async cancelJob(req) {
      return { job: await cancelJob(s, req.name) };
    },
    async *watchJob(req) {
      for await (const job of watchJob(s, req.name)) yield { job };
    },
    readJobResults(req) {
      return readJobResults(s, req.name);
    },
    async listExecutors(req) {
      return listExecutors(s, req);
    },
  };
}

export function createExecutorService(s: Scheduler): ServiceImpl<typeof ExecutorService> {
  return {
    heartbeat: (req) => heartbeat(s, req),
    startAttempt: (req) => startAttempt(s, req),
    async reportProgress(req) {
      return { stop: await reportProgress(s, req) };
    },
    finishAttempt: (req) => finishAttempt(s, req),
  };
}
