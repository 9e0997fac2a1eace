import type { ServiceImpl } from "@connectrpc/connect";
import { callerOf } from "@kiln/core";
import { ExecutorService, RuntimeService } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { ScheduleService } from "@kiln/proto/kiln/runtime/v1/schedules_pb";
import { WebhookService } from "@kiln/proto/kiln/runtime/v1/webhooks_pb";
import { InferenceGraphService } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { createInferenceGraph, deleteInferenceGraph, listInferenceGraphs, readInferenceGraph, updateInferenceGraph } from "./inference-graphs.js";
import { predictInferenceGraph } from "./inference-graph-run.js";
import { createWebhook, deleteWebhook, listWebhooks, readWebhook, shown, updateWebhook } from "./webhooks.js";
import { pingWebhook } from "./webhook-dispatcher.js";
import { backfillSchedule } from "./schedule-backfill.js";
import { dropDeliveries, listDeliveries, redeliver } from "./webhook-outcomes.js";
import { createSchedule, deleteSchedule, listSchedules, readSchedule, updateSchedule } from "./schedules.js";
import { createDeployment, deleteDeployment, getDeployment, listDeployments, updateDeployment } from "./deployments.js";
import { predictOnline } from "./online-predict.js";
import { finishAttempts, finishResults, reportProgress, single, startAttempts, startResults } from "./attempts.js";
import { heartbeat, listExecutors } from "./executors.js";
import { deleteJob, purgeJobs } from "./job-deletion.js";
import type { Scheduler } from "./job-store.js";
import { cancelJob, getJob, listJobs } from "./jobs.js";
import { readJobResults } from "./results.js";
import { submitJob, submitJobs } from "./submit.js";
import { watchJob } from "./watch.js";

export function createRuntimeService(s: Scheduler): ServiceImpl<typeof RuntimeService> {
  return {
    async submitJob(req, ctx) {
      return { job: await submitJob(s, req, callerOf(ctx)) };
    },
    async submitJobs(req, ctx) {
      return { jobs: await submitJobs(s, req.parent, req.requests, true, { creator: callerOf(ctx) }) };
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
    async deleteJob(req) {
      await deleteJob(s, req.name);
      return {};
    },
    purgeJobs: (req) => purgeJobs(s, req),
    async *watchJob(req) {
      for await (const job of watchJob(s, req.name)) yield { job };
    },
    readJobResults(req) {
      return readJobResults(s, req.name, req.encoding);
    },
    async listExecutors(req) {
      return listExecutors(s, req);
    },
  };
}

export function createExecutorService(s: Scheduler): ServiceImpl<typeof ExecutorService> {
  return {
    heartbeat: (req) => heartbeat(s, req),
    startAttempt: async (req) => single(await startAttempts(s, [req])),
    async reportProgress(req) {
      return { stop: await reportProgress(s, req) };
    },
    finishAttempt: async (req) => single(await finishAttempts(s, [req])),
    startAttempts: async (req) => ({ results: startResults(s, await startAttempts(s, req.requests)) }),
    finishAttempts: async (req) => ({ results: finishResults(s, await finishAttempts(s, req.requests)) }),
  };
}

export function createScheduleService(s: Scheduler): ServiceImpl<typeof ScheduleService> {
  return {
    createSchedule: async (req, ctx) => ({ schedule: await createSchedule(s, req, callerOf(ctx)) }),
    getSchedule: async (req) => ({ schedule: (await readSchedule(s, req.name)).schedule }),
    listSchedules: (req) => listSchedules(s, req),
    updateSchedule: async (req, ctx) => ({ schedule: await updateSchedule(s, req, callerOf(ctx)) }),
    async deleteSchedule(req) {
      await deleteSchedule(s, req.name);
      return {};
    },
    backfillSchedule: async (req) => ({ runs: await backfillSchedule(s, req) }),
  };
}

export function createWebhookService(s: Scheduler): ServiceImpl<typeof WebhookService> {
  return {
    createWebhook: async (req, ctx) => ({ webhook: await createWebhook(s, req, callerOf(ctx)) }),
    getWebhook: async (req) => ({ webhook: shown((await readWebhook(s, req.name)).webhook) }),
    listWebhooks: (req) => listWebhooks(s, req),
    updateWebhook: async (req, ctx) => ({ webhook: await updateWebhook(s, req, callerOf(ctx)) }),
    async deleteWebhook(req) {
      await deleteWebhook(s, req.name);
      await dropDeliveries(s, req.name);
      return {};
    },
    listWebhookDeliveries: (req) => listDeliveries(s, req),
    redeliverWebhookDelivery: async (req) => ({ delivery: await redeliver(s, req) }),
    async testWebhook(req) {
      const { status, error, delivered } = await pingWebhook(s, (await readWebhook(s, req.name)).webhook);
      return { status, error, delivered };
    },
  };
}

export function createDeploymentService(s: Scheduler): ServiceImpl<typeof DeploymentService> {
  return {
    createDeployment: async (req, ctx) => ({ deployment: await createDeployment(s, req, callerOf(ctx)) }),
    getDeployment: async (req) => ({ deployment: await getDeployment(s, req.name) }),
    listDeployments: (req) => listDeployments(s, req),
    updateDeployment: async (req, ctx) => ({ deployment: await updateDeployment(s, req, callerOf(ctx)) }),
    async deleteDeployment(req) {
      await deleteDeployment(s, req.name);
      return {};
    },
    predict: (req, ctx) => predictOnline(s, req, ctx.timeoutMs()),
  };
}

export function createInferenceGraphService(s: Scheduler): ServiceImpl<typeof InferenceGraphService> {
  return {
    createInferenceGraph: async (req, ctx) => ({ inferenceGraph: await createInferenceGraph(s, req, callerOf(ctx)) }),
    getInferenceGraph: async (req) => ({ inferenceGraph: (await readInferenceGraph(s, req.name)).graph }),
    listInferenceGraphs: (req) => listInferenceGraphs(s, req),
    updateInferenceGraph: async (req, ctx) => ({ inferenceGraph: await updateInferenceGraph(s, req, callerOf(ctx)) }),
    async deleteInferenceGraph(req) {
      await deleteInferenceGraph(s, req.name);
      return {};
    },
    predictInferenceGraph: (req, ctx) => predictInferenceGraph(s, req, ctx.timeoutMs()),
  };
}
