import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { alreadyExists, checkId, failedPrecondition, invalidArgument, isKilnError, notFound, parseParent, printable } from "@kiln/core";
import {
  DeploymentEventSchema,
  DeploymentSchema,
  DeploymentState,
  type CreateDeploymentRequest,
  type Deployment,
  type ListDeploymentsRequest,
  type UpdateDeploymentRequest,
} from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { DeploymentStatsSchema, RequestLogSchema, ServedState, type Executor, type RequestLog } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { scanPage } from "@kiln/storage";
import { deploymentHolds, syncHolds } from "./model-version-holds.js";
import { aliveExecutors } from "./executors.js";
import { rethrowRemote } from "./job-errors.js";
import { nowOf, type Scheduler } from "./job-store.js";
import type { SchedulerDeps } from "./deps.js";
import { parseModelRef, parseResourceName } from "./names.js";
import { normalizeLabels } from "./queues.js";
import { dropExpiredDays } from "./request-log-retention.js";
import { checkedExplainer } from "./input-checks.js";
import { checkedAutoscaling } from "./autoscaling-spec.js";
import { changeUnderRevision, checkUpdateMask } from "./updates.js";

/** A stored deployment: the Deployment message (its spec, model_version and times) as binary protobuf in base64. */
interface DeploymentRecord {
  pb: string;
}

export const DEFAULT_MAX_BATCH_ROWS = 4096;
const MAX_BATCH_ROWS_LIMIT = 1_000_000;
const MAX_BATCH_DELAY_MS = 1_000;
const MAX_REPLICAS = 100;
const MAX_RETENTION_DAYS = 36_500;
const MUTABLE = new Set(["model", "replicas", "required_labels", "max_batch_rows", "max_batch_delay", "canary_model", "canary_traffic_percent", "request_log", "explainer", "autoscaling"]);

export function deployments(s: SchedulerDeps) {
  return s.metadata.collection<DeploymentRecord>("runtime_deployments");
}

/** Every project's deployments. */
export async function allDeployments(s: SchedulerDeps): Promise<Deployment[]> {
  return (await deployments(s).list({ prefix: "projects/" })).map((r) => decodeDeployment(r.value));
}

export function decodeDeployment(record: DeploymentRecord): Deployment {
  return fromBinary(DeploymentSchema, Buffer.from(record.pb, "base64"));
}

function encodeDeployment(d: Deployment): DeploymentRecord {
  // Only what is stored: the status fields are worked out from the executors when read.
  const stored = create(DeploymentSchema, { ...d, state: DeploymentState.UNSPECIFIED, readyReplicas: 0, executors: [], error: undefined, stats: undefined, requestsPerSecond: 0 });
  return { pb: Buffer.from(toBinary(DeploymentSchema, stored)).toString("base64") };
}

export function parseDeploymentName(name: string): { project: string; id: string } {
  return parseResourceName(name, "deployments");
}

/** The bus subject a deployment's requests go on, and the queue group its executors share (ids may hold dots, subjects may not). */
export function deploymentRoute(name: string): { subject: string; queue: string } {
  const key = createHash("sha256").update(name).digest("hex").slice(0, 24);
  return { subject: `kiln.runtime.v1.serve.${key}`, queue: `serve_${key}` };
}

export async function readDeployment(s: Scheduler, name: string): Promise<{ deployment: Deployment; rev: number }> {
  parseDeploymentName(name);
  const stored = await deployments(s).get(name);
  if (!stored) throw notFound("DEPLOYMENT_NOT_FOUND", `deployment ${name} does not exist`, { deployment: name });
  return { deployment: decodeDeployment(stored.value), rev: stored.rev };
}

/** `caller`: who creates it (the token's subject, "" without token checks). */
export async function createDeployment(s: Scheduler, req: CreateDeploymentRequest, caller = ""): Promise<Deployment> {
  const project = parseParent(req.parent);
  if (!req.deploymentId) throw invalidArgument("DEPLOYMENT_ID_REQUIRED", "deployment_id is required");
  const name = `${project}/deployments/${checkId(req.deploymentId, "deployment")}`;
  const given = req.deployment ?? create(DeploymentSchema);
  const now = timestampFromDate(nowOf(s));
  const deployment = create(DeploymentSchema, { name, createTime: now, updateTime: now, creator: caller, updater: caller });
  applySpec(deployment, given, MUTABLE);
  deployment.modelVersion = await servableVersion(s, project, deployment.model);
  if (deployment.canaryModel) deployment.canaryModelVersion = await servableVersion(s, project, deployment.canaryModel);
  try {
    await deployments(s).create(name, encodeDeployment(deployment));
    s.deployments.forget();
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("DEPLOYMENT_EXISTS", `deployment ${name} already exists`, { deployment: name });
    throw e;
  }
  await syncHolds(s, name, deploymentHolds(deployment));
  await publishDeploymentEvent(s, deployment, "created");
  dropExpiredDaysSoon(s, deployment);
  return withStatus(deployment, await aliveExecutors(s), s.requestRates);
}

export async function getDeployment(s: Scheduler, name: string): Promise<Deployment> {
  const { deployment } = await readDeployment(s, name);
  return withStatus(deployment, await aliveExecutors(s), s.requestRates);
}

export async function listDeployments(s: Scheduler, req: ListDeploymentsRequest): Promise<{ deployments: Deployment[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const page = await scanPage(deployments(s), { prefix: `${project}/deployments/`, pageSize: req.pageSize, pageToken: req.pageToken, filterText: "" });
  const alive = page.items.length ? await aliveExecutors(s) : [];
  return { deployments: page.items.map((r) => withStatus(decodeDeployment(r), alive, s.requestRates)), nextPageToken: page.nextPageToken };
}

/** `caller`: who changes it (the token's subject, "" without token checks). */
export async function updateDeployment(s: Scheduler, req: UpdateDeploymentRequest, caller = ""): Promise<Deployment> {
  if (!req.deployment) throw invalidArgument("DEPLOYMENT_REQUIRED", "deployment is required");
  const { project } = parseDeploymentName(req.deployment.name);
  checkUpdateMask(req.updateMask, MUTABLE);
  const mask = new Set(req.updateMask);
  const modelVersion = mask.has("model") ? await servableVersion(s, project, req.deployment.model) : undefined;
  const canaryVersion = mask.has("canary_model") && req.deployment.canaryModel ? await servableVersion(s, project, req.deployment.canaryModel) : undefined;
  const deployment = await changeDeployment(s, req.deployment.name, caller, (d) => {
    applySpec(d, req.deployment!, mask);
    if (modelVersion) d.modelVersion = modelVersion;
    if (mask.has("canary_model")) d.canaryModelVersion = canaryVersion ?? "";
  });
  if (mask.has("request_log")) dropExpiredDaysSoon(s, deployment!);
  return withStatus(deployment!, await aliveExecutors(s), s.requestRates);
}

/**
 * Reads the deployment, changes it and writes it under its revision, again if another write
 * came between, then publishes "updated". `change` returning false leaves it as it is
 * (nothing written, undefined returned). `updater`: who changes it.
 */
export async function changeDeployment(s: Scheduler, name: string, updater: string, change: (deployment: Deployment) => boolean | void): Promise<Deployment | undefined> {
  let changed = false;
  let heldBefore = "";
  const deployment = await changeUnderRevision(
    async () => {
      const { deployment, rev } = await readDeployment(s, name);
      return { value: deployment, rev };
    },
    (d, rev) => deployments(s).update(d.name, encodeDeployment(d), rev),
    (d) => {
      heldBefore = deploymentHolds(d).join();
      changed = change(d) !== false;
      if (!changed) return false;
      d.updateTime = timestampFromDate(nowOf(s));
      d.updater = updater;
    },
  );
  if (!changed) return undefined;
  s.deployments.forget();
  if (deploymentHolds(deployment).join() !== heldBefore) await syncHolds(s, name, deploymentHolds(deployment));
  await publishDeploymentEvent(s, deployment, "updated");
  return deployment;
}

export async function deleteDeployment(s: Scheduler, name: string): Promise<void> {
  const { deployment, rev } = await readDeployment(s, name);
  if (!(await deployments(s).delete(name, rev))) throw notFound("DEPLOYMENT_NOT_FOUND", `deployment ${name} does not exist`, { deployment: name });
  s.deployments.forget();
  await syncHolds(s, name, []);
  await publishDeploymentEvent(s, deployment, "deleted");
}

/** Publishes kiln.runtime.v1.deployment.<event>: a notice (the record is the truth), so a lost one is logged, not failed on. */
async function publishDeploymentEvent(s: Scheduler, deployment: Deployment, event: "created" | "updated" | "deleted"): Promise<void> {
  const data = toBinary(DeploymentEventSchema, create(DeploymentEventSchema, { deployment, time: timestampFromDate(nowOf(s)) }));
  const msgId = `${deployment.name}:${event}:${deployment.updateTime?.seconds ?? 0}.${deployment.updateTime?.nanos ?? 0}`;
  await s.bus.publish(`kiln.runtime.v1.deployment.${event}`, data, { msgId, confirm: false }).catch((e: unknown) => {
    s.logger.warn({ err: e, deployment: deployment.name, event }, "could not publish a deployment event");
  });
}

/** Copies the fields of `fields` from `given` into `into`, checked and with their defaults. */
function applySpec(into: Deployment, given: Deployment, fields: Set<string>): void {
  if (fields.has("model")) {
    if (!given.model) throw invalidArgument("MODEL_REQUIRED", "deployment.model is required: projects/{p}/models/{m}[/versions/{number|tag|latest}]");
    into.model = parseModelRef(given.model).version;
  }
  if (fields.has("replicas")) {
    const replicas = given.replicas || 1;
    if (replicas < 1 || replicas > MAX_REPLICAS) throw invalidArgument("INVALID_REPLICAS", `replicas must be 1 to ${MAX_REPLICAS}, got ${given.replicas}`);
    into.replicas = replicas;
  }
  if (fields.has("required_labels")) into.requiredLabels = normalizeLabels(given.requiredLabels);
  if (fields.has("max_batch_rows")) {
    const rows = given.maxBatchRows || DEFAULT_MAX_BATCH_ROWS;
    if (rows < 1 || rows > MAX_BATCH_ROWS_LIMIT) throw invalidArgument("INVALID_MAX_BATCH_ROWS", `max_batch_rows must be 1 to ${MAX_BATCH_ROWS_LIMIT}, got ${given.maxBatchRows}`);
    into.maxBatchRows = rows;
  }
  if (fields.has("max_batch_delay")) {
    const ms = given.maxBatchDelay ? durationMs(given.maxBatchDelay) : 0;
    if (!(ms >= 0 && ms <= MAX_BATCH_DELAY_MS)) throw invalidArgument("INVALID_MAX_BATCH_DELAY", `max_batch_delay must be 0 to ${MAX_BATCH_DELAY_MS} ms`);
    into.maxBatchDelay = given.maxBatchDelay;
  }
  if (fields.has("canary_model")) into.canaryModel = given.canaryModel ? parseModelRef(given.canaryModel).version : "";
  if (fields.has("canary_traffic_percent")) {
    const percent = given.canaryTrafficPercent;
    if (!(percent >= 0 && percent <= 100)) throw invalidArgument("INVALID_CANARY_TRAFFIC", `canary_traffic_percent must be 0 to 100, got ${percent}`);
    into.canaryTrafficPercent = percent;
  }
  if (fields.has("request_log")) into.requestLog = requestLog(given.requestLog);
  if (fields.has("explainer")) into.explainer = checkedExplainer(given.explainer);
  if (fields.has("autoscaling")) into.autoscaling = checkedAutoscaling(given.autoscaling, MAX_REPLICAS);
  if (into.autoscaling && (fields.has("autoscaling") || fields.has("replicas"))) {
    into.replicas = Math.min(Math.max(into.replicas || 1, into.autoscaling.minReplicas), into.autoscaling.maxReplicas);
  }
  if (!into.canaryModel) {
    if (fields.has("canary_traffic_percent") && into.canaryTrafficPercent > 0) {
      throw invalidArgument("CANARY_MODEL_REQUIRED", `canary_traffic_percent ${into.canaryTrafficPercent} needs a canary_model to send that traffic to`);
    }
    into.canaryTrafficPercent = 0;
  }
}

/** A log given a retention drops its older days now, not at the next sweep; the answer does not wait for it. */
function dropExpiredDaysSoon(s: Scheduler, deployment: Deployment): void {
  void dropExpiredDays(s, deployment).catch((e: unknown) => s.logger.warn({ err: e, deployment: deployment.name }, "dropping a request log's old days failed; the next sweep tries again"));
}

/** A request log checked, with its default share; none when it names no dataset. */
function requestLog(given: RequestLog | undefined): RequestLog | undefined {
  if (!given?.dataset) {
    if (given?.samplePercent) throw invalidArgument("REQUEST_LOG_DATASET_REQUIRED", `request_log.sample_percent ${given.samplePercent} needs a dataset to log to`);
    return undefined;
  }
  checkId(given.dataset, "request_log.dataset");
  // The day's date is added to the id, which has at most 128 characters.
  if (given.dataset.length > 117) throw invalidArgument("INVALID_REQUEST_LOG", `request_log.dataset "${printable(given.dataset)}" is too long: at most 117 characters, as -YYYY-MM-DD is added to it`);
  const percent = given.samplePercent || 100;
  if (!(percent >= 1 && percent <= 100)) throw invalidArgument("INVALID_REQUEST_LOG", `request_log.sample_percent must be 1 to 100 (0 takes 100), got ${given.samplePercent}`);
  if (!(given.retentionDays >= 0 && given.retentionDays <= MAX_RETENTION_DAYS)) throw invalidArgument("INVALID_REQUEST_LOG", `request_log.retention_days must be 0 (keep all) to ${MAX_RETENTION_DAYS}, got ${given.retentionDays}`);
  return create(RequestLogSchema, { dataset: given.dataset, samplePercent: percent, retentionDays: given.retentionDays });
}

/** The version a model reference names now, if Kiln can run it. */
async function servableVersion(s: Scheduler, project: string, ref: string): Promise<string> {
  const { version } = parseModelRef(ref);
  if (!version.startsWith(`${project}/`)) throw invalidArgument("CROSS_PROJECT", `the model ${version} is not in ${project}`);
  const v = await s.registry.getModelVersion({ name: version }).then((r) => r.version!, rethrowRemote);
  if (!v.runnable) throw failedPrecondition("NOT_RUNNABLE", `${v.name} is not runnable by Kiln (format ${v.format}); fit it first or upload an ONNX model`, { model: v.name });
  return v.name;
}

/** The deployment with its state: which executors alive now report its version loaded, or failing to load. */
/** `rates`: the requests a second the autoscaler measured last, by deployment (Scheduler.requestRates). */
export function withStatus(d: Deployment, alive: Executor[], rates?: Map<string, number>): Deployment {
  const out = create(DeploymentSchema, d);
  out.requestsPerSecond = d.autoscaling ? (rates?.get(d.name) ?? 0) : 0;
  out.executors = [];
  const stats = create(DeploymentStatsSchema);
  let failure;
  for (const executor of alive) {
    const served = executor.serving.find((x) => x.deployment === d.name && x.modelVersion === d.modelVersion && x.canaryModelVersion === d.canaryModelVersion);
    if (served?.state === ServedState.READY) out.executors.push(executor.name);
    else if (served?.state === ServedState.FAILED) failure ??= served.error;
    if (served?.stats) {
      stats.requests += served.stats.requests;
      stats.rows += served.stats.rows;
      stats.runs += served.stats.runs;
      stats.failures += served.stats.failures;
      stats.loggedRows += served.stats.loggedRows;
      stats.unloggedRows += served.stats.unloggedRows;
      stats.latencyP50Ms = Math.max(stats.latencyP50Ms, served.stats.latencyP50Ms);
      stats.latencyP99Ms = Math.max(stats.latencyP99Ms, served.stats.latencyP99Ms);
    }
  }
  out.stats = stats;
  out.readyReplicas = out.executors.length;
  out.error = failure;
  out.state =
    out.readyReplicas >= d.replicas
      ? DeploymentState.READY
      : out.readyReplicas > 0
        ? DeploymentState.DEGRADED
        : failure
          ? DeploymentState.FAILED
          : DeploymentState.PENDING;
  return out;
}
