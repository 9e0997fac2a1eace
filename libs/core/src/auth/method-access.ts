import type { Role } from "./token.js";

/**
 * What each RPC needs. "open": no token (health checks and reflection, which probes and
 * tools call before they have one). Project-wide calls check the token's projects against
 * every project the request names; "unscoped" ones (the executors' list, the inference
 * server's own health) need the role in any project.
 */
export type MethodAccess = { role: "open" } | { role: Role; unscoped?: boolean };

type Table = Record<string, Partial<Record<Role | "open" | "unscoped-read", readonly string[]>>>;

// Every method of every service, listed: a method missing here is refused (tests check that none is).
// Deleting a whole dataset, model, experiment or deployment, or a model's version, and purging jobs, is an admin's;
// tags, attachments, a job that is over, a run's events are a writer's. Online predictions
// change nothing and reveal what reading the model would: an app that only predicts needs read.
const TABLE: Table = {
  "kiln.store.v1.StoreService": {
    read: ["GetDataset", "ListDatasets", "GetUpload", "ReadDataset", "GetDatasetVersion", "ListDatasetVersions", "ProfileDataset", "CompareDatasets"],
    write: ["CreateDataset", "UpdateDataset", "WriteDataset", "BeginUpload", "AppendUpload", "CommitUpload", "AbortUpload"],
    admin: ["DeleteDataset"],
  },
  "kiln.registry.v1.RegistryService": {
    read: ["GetModel", "ListModels", "GetModelVersion", "ListModelVersions", "DownloadModelVersion", "DownloadAttachment"],
    write: ["CreateModel", "UpdateModel", "UploadModelVersion", "PutModelVersion", "UpdateModelVersion", "SetTag", "DeleteTag", "UploadAttachment", "PutAttachment", "DeleteAttachment"],
    admin: ["DeleteModel", "DeleteModelVersion"],
    // What a deployment holds is the runtime's to say: a user cannot keep a version from its admins.
    service: ["SetModelVersionHolds", "ReleaseModelVersionHolds"],
  },
  "kiln.runtime.v1.RuntimeService": {
    read: ["GetJob", "ListJobs", "WatchJob", "ReadJobResults"],
    "unscoped-read": ["ListExecutors"],
    write: ["SubmitJob", "SubmitJobs", "CancelJob", "DeleteJob"],
    admin: ["PurgeJobs"],
  },
  "kiln.runtime.v1.ExecutorService": {
    service: ["Heartbeat", "StartAttempt", "ReportProgress", "FinishAttempt", "StartAttempts", "FinishAttempts"],
  },
  "kiln.runtime.v1.ScheduleService": {
    read: ["GetSchedule", "ListSchedules"],
    write: ["CreateSchedule", "UpdateSchedule", "DeleteSchedule", "BackfillSchedule"],
  },
  // A webhook sends its project's events out, and holds a secret: an admin's, as tokens are.
  "kiln.runtime.v1.WebhookService": {
    read: ["GetWebhook", "ListWebhooks", "ListWebhookDeliveries"],
    admin: ["CreateWebhook", "UpdateWebhook", "DeleteWebhook", "TestWebhook", "RedeliverWebhookDelivery"],
  },
  "kiln.runtime.v1.DeploymentService": {
    read: ["GetDeployment", "ListDeployments", "Predict"],
    write: ["CreateDeployment", "UpdateDeployment"],
    admin: ["DeleteDeployment"],
  },
  // A graph predicts with the deployments it names, which a reader may do one by one.
  "kiln.runtime.v1.InferenceGraphService": {
    read: ["GetInferenceGraph", "ListInferenceGraphs", "PredictInferenceGraph"],
    write: ["CreateInferenceGraph", "UpdateInferenceGraph"],
    admin: ["DeleteInferenceGraph"],
  },
  "kiln.tracking.v1.TrackingService": {
    read: ["GetExperiment", "ListExperiments", "GetRun", "ListRuns", "QueryEvents", "GetMetricHistory", "SummarizeRuns", "SearchRuns", "ListTraces", "GetTrace"],
    write: ["CreateExperiment", "StartRun", "EndRun", "LogEvents", "AppendEvents"],
    admin: ["DeleteExperiment"],
  },
  "kiln.auth.v1.AuthService": {
    "unscoped-read": ["WhoAmI"],
  },
  "inference.GRPCInferenceService": {
    "unscoped-read": ["ServerLive", "ServerReady", "ServerMetadata"],
    read: ["ModelReady", "ModelMetadata", "ModelInfer"],
  },
};

const OPEN_SERVICES = new Set(["grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"]);

const BY_METHOD = new Map<string, MethodAccess>();
for (const [service, groups] of Object.entries(TABLE)) {
  for (const [group, methods] of Object.entries(groups)) {
    const access: MethodAccess = group === "unscoped-read" ? { role: "read", unscoped: true } : { role: group as Role, ...(group === "service" && { unscoped: true }) };
    for (const method of methods ?? []) BY_METHOD.set(`${service}/${method}`, access);
  }
}

/** What `service/method` needs; undefined for a method the table does not know (refused). */
export function methodAccess(service: string, method: string): MethodAccess | undefined {
  if (OPEN_SERVICES.has(service)) return { role: "open" };
  return BY_METHOD.get(`${service}/${method}`);
}
