import { create, type JsonObject } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import type { Table } from "apache-arrow";
import { decodeChunk, tableToIpc } from "@kiln/data";
import { DeploymentSchema, DeploymentService, DeploymentState, type Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { apiError, call, NotFoundError } from "./errors.js";
import { asTable, type DatasetInput } from "./inputs.js";
import type { JobErrorInfo } from "./job-summaries.js";
import { versionName } from "./model-refs.js";
import { resourceName, shortName } from "./names.js";
import type { DriftOptions } from "./drift.js";
import { explainParams, type ExplainMethod, type ExplainOptions } from "./explain.js";
import type { ModelDriftReport } from "./model-drift.js";
import type { Models } from "./models.js";
import { allPages } from "@kiln/contracts";

export type DeploymentStateName = "pending" | "ready" | "degraded" | "failed";

export interface DeploymentInfo {
  name: string;
  id: string;
  /** The model reference as given (projects/{p}/models/{m}/versions/{number|tag|latest}). */
  model: string;
  /** The version served. */
  modelVersion: string;
  replicas: number;
  requiredLabels: string[];
  maxBatchRows: number;
  maxBatchDelayMs: number;
  state: DeploymentStateName;
  readyReplicas: number;
  /** The executors serving it now. */
  executors: string[];
  /** Why executors could not load the model. */
  error?: JobErrorInfo;
  /**
   * What the executors serving it now answered since they loaded it: requests, rows
   * predicted, the model runs they took (fewer than the requests when batched), failures,
   * and how long the slowest of them took to answer (median and 99th percentile of its last 1,000).
   */
  stats: { requests: number; rows: number; runs: number; failures: number; latencyP50Ms: number; latencyP99Ms: number; loggedRows: number; unloggedRows: number };
  /** A canary version beside the model version, answering `percent` of the requests. */
  canary?: { model: string; modelVersion: string; percent: number };
  /** Where its requests are logged: `{dataset}-{YYYY-MM-DD}` a UTC day, `samplePercent` of them, `retentionDays` kept (0: all). */
  requestLog?: { dataset: string; samplePercent: number; retentionDays: number };
  /** Its explanations' defaults (what is unset takes an EXPLAIN job's). */
  explainer?: DeploymentExplainer;
  /** Replicas by load: `replicas` is then what the scheduler chose last. */
  autoscaling?: Required<DeploymentAutoscaling>;
  /** With autoscaling: the requests a second the scheduler measured last (0 until it has). */
  requestsPerSecond: number;
  createTime?: Date;
  updateTime?: Date;
  /** Who created it and who changed it last (their tokens' subjects; "" without token checks). */
  creator: string;
  updater: string;
}

export interface DeploymentSpec {
  /** `name`, `name:3`, `name:prod`: resolved to a version when deployed. */
  model?: string;
  /** Executors that keep the model loaded (default 1). */
  replicas?: number;
  /** Only executors with all these labels serve it. */
  labels?: string[];
  /** Rows of requests run together at most (default 4,096). */
  maxBatchRows?: number;
  /** How long a request may wait for others when the model is idle (default 0). */
  maxBatchDelayMs?: number;
  /**
   * A canary (KServe's canaryTrafficPercent): another model (`name:5`) loaded beside the
   * model, answering `percent` (0–100) of the requests; null drops it.
   */
  canary?: { model: string; percent: number } | null;
  /**
   * Logs requests (KServe's request logger): `samplePercent` (1–100, default 100) of them go,
   * as the model saw them and with its answers, to the dataset `{dataset}-{YYYY-MM-DD}` of
   * the UTC day they were answered on, for `models.drift`; `retentionDays` days of them are
   * kept (default 0: all), older days' datasets dropped; null stops it.
   */
  requestLog?: { dataset: string; samplePercent?: number; retentionDays?: number } | null;
  /**
   * Its explanations' defaults (KServe's explainer): the background (a dataset, "name" or
   * "name@3"; default the data the version was trained on), which each executor samples
   * once it has loaded the version, and how values are worked out; a request's own options
   * win. null drops them.
   */
  explainer?: DeploymentExplainer | null;
  /**
   * Replicas by load (KServe's minReplicas, maxReplicas and scaleTarget on requests a
   * second): the scheduler sets `replicas` to the requests a second it answers over
   * `targetRequestsPerSecond`, rounded up, within the bounds; more at once, fewer once the
   * load has wanted fewer for `scaleDownDelayMs` (default 60 s). null: replicas stay as set.
   */
  autoscaling?: DeploymentAutoscaling | null;
}

export interface DeploymentAutoscaling {
  /** Default 1. */
  minReplicas?: number;
  maxReplicas: number;
  targetRequestsPerSecond: number;
  scaleDownDelayMs?: number;
  /** No replica after scaleDownDelayMs without a request; the next request wakes it, waiting for a load (KServe's minReplicas 0). */
  scaleToZero?: boolean;
}

export interface DeploymentExplainer {
  background?: string;
  backgroundRows?: number;
  method?: ExplainMethod;
  permutations?: number;
}

export interface DeployOptions {
  /** Wait until the deployment is READY (default), up to this many ms (true: 60 s); false returns at once. */
  wait?: boolean | number;
}

export interface OnlinePredictOptions {
  /** Input columns copied into each result row before the outputs (an id, say). */
  keep?: string[];
}

const STATE_NAMES: Record<DeploymentState, DeploymentStateName> = {
  [DeploymentState.UNSPECIFIED]: "pending",
  [DeploymentState.PENDING]: "pending",
  [DeploymentState.READY]: "ready",
  [DeploymentState.DEGRADED]: "degraded",
  [DeploymentState.FAILED]: "failed",
};
const DEFAULT_WAIT_MS = 60_000;
const WAIT_POLL_MS = 100;

/**
 * Online serving (KServe's InferenceService, MLflow's `models serve`): a model version kept
 * loaded on executors that answer predictions of a few rows in milliseconds.
 * `await kiln.deployments.create("churn", { model: "churn:production" })`, then
 * `await kiln.deployments.predict("churn", [{ age: 34, income: 5.2 }])`.
 */
export class Deployments {
  constructor(
    private readonly client: Client<typeof DeploymentService>,
    private readonly project: string,
    /** For drift (the Kiln client passes it). */
    private readonly models?: Models,
  ) {}

  /**
   * Drift of what a deployment was asked on a UTC day (default today) from what its version
   * was trained on: its request log's dataset of that day (or the version's own for the day,
   * DATASET-YYYY-MM-DD.vN, when the day's held other features), the rows the version it
   * serves now answered (a canary's, or an earlier version's, left out), compared as
   * models.drift does. NO_REQUEST_LOG (FailedPrecondition) for a deployment that logs none.
   */
  async drift(id: string, options: DriftOptions & { day?: Date | string } = {}): Promise<ModelDriftReport> {
    if (!this.models) throw new Error("deployments.drift needs the Kiln client's models");
    const info = await this.get(id);
    if (!info.requestLog) throw apiError(Code.FailedPrecondition, `deployment ${id} logs no requests: give it a request log (--log-requests) first`, "NO_REQUEST_LOG", { deployment: info.name });
    const day = typeof options.day === "string" ? options.day : (options.day ?? new Date()).toISOString().slice(0, 10);
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) throw apiError(Code.InvalidArgument, `a day is YYYY-MM-DD, not "${day}"`, "INVALID_DAY", { deployment: info.name });
    const version = shortName(info.modelVersion);
    const drift = (dataset: string) => this.models!.drift(info.modelVersion, { dataset, filter: `model_version = ${version}` }, options);
    // A version whose features the day's log did not hold has the day's rows in a dataset of its own.
    try {
      return await drift(`${info.requestLog.dataset}-${day}.v${version}`);
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
    }
    return drift(`${info.requestLog.dataset}-${day}`);
  }

  /** Deploys a model version; waits until it is READY unless `wait` is false. */
  async create(id: string, spec: DeploymentSpec & { model: string }, options: DeployOptions = {}): Promise<DeploymentInfo> {
    const res = await call(() =>
      this.client.createDeployment({ parent: `projects/${this.project}`, deploymentId: id, deployment: this.message(spec) }),
    );
    return this.settle(deploymentInfo(res.deployment!), options);
  }

  async get(id: string): Promise<DeploymentInfo> {
    const res = await call(() => this.client.getDeployment({ name: this.name(id) }));
    return deploymentInfo(res.deployment!);
  }

  async list(): Promise<DeploymentInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.client.listDeployments({ parent: `projects/${this.project}`, pageSize: 1000, pageToken }));
      return { items: res.deployments.map(deploymentInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Changes what `spec` gives (a new model reference is resolved again); waits until READY unless `wait` is false. */
  async update(id: string, spec: DeploymentSpec, options: DeployOptions = {}): Promise<DeploymentInfo> {
    const mask = [
      spec.model !== undefined && "model",
      spec.replicas !== undefined && "replicas",
      spec.labels !== undefined && "required_labels",
      spec.maxBatchRows !== undefined && "max_batch_rows",
      spec.maxBatchDelayMs !== undefined && "max_batch_delay",
      spec.canary !== undefined && "canary_model",
      spec.canary !== undefined && "canary_traffic_percent",
      spec.requestLog !== undefined && "request_log",
      spec.explainer !== undefined && "explainer",
      spec.autoscaling !== undefined && "autoscaling",
    ].filter((f): f is string => typeof f === "string");
    const deployment = this.message(spec);
    deployment.name = this.name(id);
    const res = await call(() => this.client.updateDeployment({ deployment, updateMask: mask }));
    return this.settle(deploymentInfo(res.deployment!), options);
  }

  /** Makes the canary the model (all the traffic), as KServe's promotion: its executors answer throughout. */
  async promote(id: string, options: DeployOptions = {}): Promise<DeploymentInfo> {
    const { canary } = await this.get(id);
    if (!canary) throw apiError(Code.FailedPrecondition, `deployment ${id} has no canary to promote`, "NO_CANARY", { deployment: this.name(id) });
    return this.update(id, { model: canary.model, canary: null }, options);
  }

  async delete(id: string): Promise<void> {
    await call(() => this.client.deleteDeployment({ name: this.name(id) }));
  }

  /** Resolves once the deployment is READY; rejects if it FAILED or did not get there within `timeoutMs`. */
  async waitReady(id: string, timeoutMs = DEFAULT_WAIT_MS): Promise<DeploymentInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.get(id);
      if (info.state === "ready") return info;
      if (info.state === "failed") throw apiError(Code.FailedPrecondition, `deployment ${info.id} failed: ${info.error?.message ?? "no reason given"}`, info.error?.reason ?? "DEPLOYMENT_FAILED", { deployment: info.name });
      if (Date.now() >= deadline) {
        throw apiError(Code.DeadlineExceeded, `deployment ${info.id} is not ready after ${timeoutMs} ms (${info.state}, ${info.readyReplicas} of ${info.replicas} replicas)`, "DEPLOYMENT_NOT_READY", { deployment: info.name });
      }
      await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
    }
  }

  /** The model's predictions of the rows (objects, columns, number rows, a tensor, Arrow), one row each, in order. */
  predict(id: string, X: DatasetInput, options: OnlinePredictOptions = {}): Promise<Table> {
    return this.run(id, JobKind.PREDICT, X, options);
  }

  /** A classifier's probability of each class ("probability_<class>" columns). */
  predictProba(id: string, X: DatasetInput, options: OnlinePredictOptions = {}): Promise<Table> {
    return this.run(id, JobKind.PREDICT_PROBA, X, options);
  }

  transform(id: string, X: DatasetInput, options: OnlinePredictOptions = {}): Promise<Table> {
    return this.run(id, JobKind.TRANSFORM, X, options);
  }

  /**
   * Why the model answers the rows so (KServe's explainer): each row's Shapley values, as
   * an EXPLAIN job's rows (`prediction`, or `class` and `probability`; `base_value`;
   * `shap_<feature>`), against a background sampled from what the version was trained on
   * or from `background` ("name" or "name@3"), which each executor keeps for the next requests.
   */
  explain(id: string, X: DatasetInput, options: OnlinePredictOptions & ExplainOptions & { background?: string } = {}): Promise<Table> {
    const { background, ...rest } = options;
    return this.run(id, JobKind.EXPLAIN, X, options, { ...explainParams(rest), ...(background !== undefined && { background }) });
  }

  private async run(id: string, kind: JobKind, X: DatasetInput, options: OnlinePredictOptions, params?: JsonObject): Promise<Table> {
    const { table, positional } = asTable(X);
    const res = await call(() =>
      this.client.predict({ deployment: this.name(id), input: { case: "arrowIpc", value: tableToIpc(table) }, kind, keepColumns: options.keep ?? [], positional, params }),
    );
    return decodeChunk(res.chunk!.arrowIpc);
  }

  private async settle(info: DeploymentInfo, options: DeployOptions): Promise<DeploymentInfo> {
    if (options.wait === false || info.state === "ready") return info;
    return this.waitReady(info.id, typeof options.wait === "number" ? options.wait : DEFAULT_WAIT_MS);
  }

  private message(spec: DeploymentSpec): Deployment {
    return create(DeploymentSchema, {
      model: spec.model === undefined ? "" : versionName(this.project, spec.model),
      replicas: spec.replicas ?? 0,
      requiredLabels: spec.labels ?? [],
      maxBatchRows: spec.maxBatchRows ?? 0,
      maxBatchDelay: spec.maxBatchDelayMs ? durationFromMs(spec.maxBatchDelayMs) : undefined,
      canaryModel: spec.canary ? versionName(this.project, spec.canary.model) : "",
      canaryTrafficPercent: spec.canary?.percent ?? 0,
      requestLog: spec.requestLog ? { dataset: spec.requestLog.dataset, samplePercent: spec.requestLog.samplePercent ?? 0, retentionDays: spec.requestLog.retentionDays ?? 0 } : undefined,
      explainer: spec.explainer
        ? { background: spec.explainer.background ?? "", backgroundRows: spec.explainer.backgroundRows ?? 0, method: spec.explainer.method ?? "", permutations: spec.explainer.permutations ?? 0 }
        : undefined,
      autoscaling: spec.autoscaling
        ? {
            minReplicas: spec.autoscaling.minReplicas ?? 0,
            maxReplicas: spec.autoscaling.maxReplicas,
            targetRequestsPerSecond: spec.autoscaling.targetRequestsPerSecond,
            scaleDownDelay: spec.autoscaling.scaleDownDelayMs === undefined ? undefined : durationFromMs(spec.autoscaling.scaleDownDelayMs),
            scaleToZero: spec.autoscaling.scaleToZero ?? false,
          }
        : undefined,
    });
  }

  private name(id: string): string {
    return resourceName(this.project, "deployments", id);
  }
}

export function deploymentInfo(d: Deployment): DeploymentInfo {
  return {
    name: d.name,
    id: shortName(d.name),
    model: d.model,
    modelVersion: d.modelVersion,
    replicas: d.replicas,
    requiredLabels: d.requiredLabels,
    maxBatchRows: d.maxBatchRows,
    maxBatchDelayMs: d.maxBatchDelay ? durationMs(d.maxBatchDelay) : 0,
    state: STATE_NAMES[d.state] ?? "pending",
    readyReplicas: d.readyReplicas,
    executors: d.executors,
    error: d.error && { code: d.error.code, reason: d.error.reason, message: d.error.message },
    stats: {
      requests: Number(d.stats?.requests ?? 0),
      rows: Number(d.stats?.rows ?? 0),
      runs: Number(d.stats?.runs ?? 0),
      failures: Number(d.stats?.failures ?? 0),
      latencyP50Ms: d.stats?.latencyP50Ms ?? 0,
      latencyP99Ms: d.stats?.latencyP99Ms ?? 0,
      loggedRows: Number(d.stats?.loggedRows ?? 0),
      unloggedRows: Number(d.stats?.unloggedRows ?? 0),
    },
    canary: d.canaryModel ? { model: d.canaryModel, modelVersion: d.canaryModelVersion, percent: d.canaryTrafficPercent } : undefined,
    requestLog: d.requestLog?.dataset ? { dataset: d.requestLog.dataset, samplePercent: d.requestLog.samplePercent, retentionDays: d.requestLog.retentionDays } : undefined,
    explainer: d.explainer && {
      ...(d.explainer.background && { background: d.explainer.background }),
      ...(d.explainer.backgroundRows && { backgroundRows: d.explainer.backgroundRows }),
      ...(d.explainer.method && { method: d.explainer.method as DeploymentExplainer["method"] }),
      ...(d.explainer.permutations && { permutations: d.explainer.permutations }),
    },
    autoscaling: d.autoscaling && {
      minReplicas: d.autoscaling.minReplicas,
      maxReplicas: d.autoscaling.maxReplicas,
      targetRequestsPerSecond: d.autoscaling.targetRequestsPerSecond,
      scaleDownDelayMs: d.autoscaling.scaleDownDelay ? durationMs(d.autoscaling.scaleDownDelay) : 0,
      scaleToZero: d.autoscaling.scaleToZero,
    },
    requestsPerSecond: d.requestsPerSecond,
    createTime: d.createTime ? timestampDate(d.createTime) : undefined,
    updateTime: d.updateTime ? timestampDate(d.updateTime) : undefined,
    creator: d.creator,
    updater: d.updater,
  };
}
