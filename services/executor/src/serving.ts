import { availableParallelism } from "node:os";
import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { Table } from "apache-arrow";
import type { BusReply, BusRequest, Responder } from "@kiln/bus";
import { DataFormatError, decodeChunk, tableToIpc } from "@kiln/data";
import { ServeReplySchema, ServeRequestSchema, type ServeRequest } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind, ServedDeploymentSchema, ServedState, type DeploymentAssignment, type Explainer, type JobError, type RequestLog, type ServedDeployment } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ExecutorDeps } from "./deps.js";
import { failedPrecondition, invalidInput, JobFailure, jobErrorOf, toJobFailure } from "./job-failure.js";
import { explainerParams, MAX_ONLINE_ROWS_BYTES } from "@kiln/contracts";
import { OnlineBatching } from "./online-batching.js";
import { OnlineModel } from "./online-model.js";
import { Latencies } from "@kiln/core";
import { withKept } from "./outputs.js";
import { RequestLogger, type RequestLogStats } from "./request-log.js";

/** Runs of one deployment in flight at once (the ONNX worker pool has at most 4 workers). */
const RUNS_IN_FLIGHT = Math.max(1, Math.min(4, availableParallelism()));

/** A deployment whose model failed to load is tried again after this, doubling up to RETRY_MAX_MS. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;

interface LoadedVersion {
  name: string;
  model: OnlineModel;
  batching: OnlineBatching;
}

/** One deployment as this executor serves it: loading, answering, or failed to load. */
class Served {
  state = ServedState.LOADING;
  error: JobError | undefined;
  /** When its load failed, for the next try's backoff. */
  failedAt = 0;
  private responder: Responder | undefined;
  /** The answers being made, by request id (ServeRequest.request_id). */
  private readonly inFlight = new Map<string, Promise<BusReply>>();
  /** The model version, and the canary beside it if the deployment has one. */
  private versions: LoadedVersion[] = [];
  private stopped = false;
  private readonly stats = { requests: 0n, rows: 0n, failures: 0n };
  private readonly latencies = new Latencies();
  private log: RequestLogger | undefined;
  private readonly logStats: RequestLogStats = { logged: 0n, unlogged: 0n };
  /** The deployment's explainer, as explain params (a request's own win). */
  private explainDefaults: JsonObject = {};

  constructor(
    private readonly deps: ExecutorDeps,
    readonly assignment: DeploymentAssignment,
    /** Loads tried before this one that failed, in a row. */
    readonly failedLoads = 0,
  ) {
    this.logTo(assignment.requestLog);
    this.explainDefaults = explainerParams(assignment.explainer);
  }

  /** Takes a changed explainer without loading the model again, and samples its background now. */
  explainWith(explainer: Explainer | undefined): void {
    const params = explainerParams(explainer);
    if (JSON.stringify(params) === JSON.stringify(this.explainDefaults)) return;
    this.explainDefaults = params;
    if (explainer) void this.prepareBackgrounds();
  }

  /** Samples the explainer's background on each loaded version; a failure is logged, and said again by the explain requests. */
  private async prepareBackgrounds(): Promise<void> {
    await Promise.all(
      this.versions.map((v) =>
        v.model.prepareBackground(this.explainDefaults).catch((e: unknown) => {
          this.deps.logger.warn({ deployment: this.assignment.deployment, model: v.name, err: e }, "could not sample the explainer's background");
        }),
      ),
    );
  }

  /** Starts, moves or stops logging requests, without loading the model again. */
  logTo(spec: RequestLog | undefined): void {
    if (spec?.dataset && this.log) this.log.logTo(spec);
    else if (spec?.dataset) this.log = new RequestLogger(this.deps, this.assignment.deployment, spec, this.deps.requestLogFlushMs, this.logStats);
    else if (this.log) {
      const stopped = this.log;
      this.log = undefined;
      void stopped.stop();
    }
  }

  /** Whether a failed load is due to be tried again (a registry away for a while, say). */
  dueForRetry(now: number, baseMs: number): boolean {
    return this.state === ServedState.FAILED && now - this.failedAt >= Math.min(RETRY_MAX_MS, baseMs * 2 ** this.failedLoads);
  }

  /** Loads the model and starts answering; a failure is kept (and reported) rather than thrown. */
  async start(): Promise<void> {
    const a = this.assignment;
    try {
      const options = { maxRows: a.maxBatchRows || 4096, maxDelayMs: a.maxBatchDelay ? durationMs(a.maxBatchDelay) : 0, concurrency: RUNS_IN_FLIGHT };
      const names = a.canaryModelVersion ? [a.modelVersion, a.canaryModelVersion] : [a.modelVersion];
      const loading = names.map((name) => OnlineModel.load(this.deps, name));
      const loaded = await Promise.allSettled(loading);
      const failed = loaded.find((r) => r.status === "rejected");
      if (failed) {
        for (const r of loaded) if (r.status === "fulfilled") r.value.close();
        throw failed.reason;
      }
      const models = loaded.map((r) => (r as PromiseFulfilledResult<OnlineModel>).value);
      this.versions = models.map((model, i) => ({ name: names[i]!, model, batching: new OnlineBatching((key, tables) => model.run(key, tables), options) }));
      if (this.stopped) return this.closeModels();
      // KServe's explainer is ready with its predictor: the background is sampled before the first request.
      if (a.explainer) await this.prepareBackgrounds();
      this.responder = await this.deps.bus.respond(a.subject, a.queue, (req) => this.answer(req));
      if (this.stopped) return await this.stop();
      this.state = ServedState.READY;
      this.deps.logger.info({ deployment: a.deployment, model: a.modelVersion }, "serving a deployment");
    } catch (e) {
      this.state = ServedState.FAILED;
      this.failedAt = Date.now();
      this.error = jobErrorOf(toJobFailure(e));
      this.deps.logger.warn({ deployment: a.deployment, model: a.modelVersion, error: this.error.message, failedLoads: this.failedLoads + 1 }, "could not load a deployment's model; trying again later");
    }
  }

  /** Stops answering; requests already taken are answered first, then the models are let go. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.responder?.stop();
    this.closeModels();
    await this.log?.stop();
  }

  private closeModels(): void {
    for (const v of this.versions.splice(0)) v.model.close();
  }

  status(): ServedDeployment {
    const stats = {
      ...this.stats,
      loggedRows: this.logStats.logged,
      unloggedRows: this.logStats.unlogged,
      runs: BigInt(this.versions.reduce((n, v) => n + v.batching.runs, 0)),
      latencyP50Ms: this.latencies.quantile(0.5),
      latencyP99Ms: this.latencies.quantile(0.99),
    };
    const { deployment, modelVersion, canaryModelVersion } = this.assignment;
    return create(ServedDeploymentSchema, { deployment, modelVersion, canaryModelVersion, state: this.state, error: this.error, stats });
  }

  /** The canary for its share of the requests, else the model version. */
  private pick(): LoadedVersion {
    const [main, canary] = this.versions as [LoadedVersion, LoadedVersion | undefined];
    return canary && Math.random() * 100 < this.assignment.canaryTrafficPercent ? canary : main;
  }

  /**
   * A request sent again by the scheduler (it resends while it cannot tell whether this
   * executor is still there, as under a heavy load whose heartbeats come late) gets the
   * answer of the copy in flight, by the request's id: one model run, counted and logged once.
   */
  private answer(req: BusRequest): Promise<BusReply> {
    const request = decodeServeRequest(req.data);
    const id = request instanceof Error ? "" : request.requestId;
    const inFlight = id ? this.inFlight.get(id) : undefined;
    if (inFlight) return inFlight;
    const answered = this.timedAnswer(request);
    if (id) {
      this.inFlight.set(id, answered);
      const done = () => void this.inFlight.delete(id);
      answered.then(done, done);
    }
    return answered;
  }

  private async timedAnswer(request: ServeRequest | Error): Promise<BusReply> {
    const started = performance.now();
    try {
      return await this.answerRows(request);
    } finally {
      this.latencies.add(performance.now() - started);
    }
  }

  private async answerRows(request: ServeRequest | Error): Promise<BusReply> {
    const version = this.pick();
    const from = { modelVersion: version.name, executor: this.deps.name };
    this.stats.requests++;
    try {
      if (request instanceof Error) throw request;
      if (request.deployment !== this.assignment.deployment) {
        throw failedPrecondition("WRONG_DEPLOYMENT", `this executor serves ${this.assignment.deployment} on this subject, not ${request.deployment}`);
      }
      const table = decodeRows(request.arrowIpc);
      const kept = keptColumns(table, request.keepColumns);
      const kind = request.kind || JobKind.PREDICT;
      // An explanation runs the model on many mixed rows of its own: it joins no batch.
      const explaining = kind === JobKind.EXPLAIN;
      let outputs: Table;
      let features: () => { name: string; column: string }[];
      if (explaining) {
        const explained = await version.model.explain(table, request.keepColumns, request.positional, { ...this.explainDefaults, ...request.params });
        outputs = explained.table;
        features = () => explained.features;
      } else {
        const key = await version.model.prepare(kind, table, request.keepColumns, request.positional);
        outputs = await version.batching.submit(key, table);
        features = () => version.model.loggedFeatures(key);
      }
      const answer = withKept(kept, outputs);
      const out = tableToIpc(answer);
      if (out.length > MAX_ONLINE_ROWS_BYTES) {
        throw new JobFailure("RESOURCE_EXHAUSTED", "PREDICT_TOO_LARGE", `the answer takes ${out.length} bytes as Arrow, more than an online prediction gives back (${MAX_ONLINE_ROWS_BYTES}): send fewer rows, or predict them with a job`);
      }
      this.stats.rows += BigInt(answer.numRows);
      if (this.log?.sampled()) this.logRequest(this.log, { version, features, table, kept: request.keepColumns, outputs, kind });
      return reply({ ...from, arrowIpc: out, rowCount: BigInt(answer.numRows) });
    } catch (e) {
      this.stats.failures++;
      return reply({ ...from, error: jobErrorOf(toJobFailure(e)) });
    }
  }

  /** Rows the log cannot make are counted unlogged: logging never fails an answer. */
  private logRequest(log: RequestLogger, r: { version: LoadedVersion; features: () => { name: string; column: string }[]; table: Table; kept: string[]; outputs: Table; kind: JobKind }): void {
    try {
      log.add({ features: r.features(), rows: r.table, kept: r.kept, outputs: r.outputs, kind: r.kind, modelVersion: r.version.model.version.version, time: new Date() });
    } catch (e) {
      this.logStats.unlogged += BigInt(r.table.numRows);
      this.deps.logger.warn({ err: e, deployment: this.assignment.deployment }, "could not log a request");
    }
  }
}

function reply(init: Parameters<typeof create<typeof ServeReplySchema>>[1]): BusReply {
  return { data: toBinary(ServeReplySchema, create(ServeReplySchema, init)), headers: {} };
}

function decodeRows(ipc: Uint8Array): Table {
  let table: Table;
  try {
    table = decodeChunk(ipc);
  } catch (e) {
    if (e instanceof DataFormatError) throw invalidInput("INVALID_INPUT_DATA", `arrow_ipc: ${e.message}`);
    throw e;
  }
  if (table.numRows === 0) throw invalidInput("NO_ROWS", "the request has no rows");
  return table;
}

function keptColumns(table: Table, names: string[]): Table | undefined {
  if (names.length === 0) return undefined;
  const missing = names.find((n) => !table.schema.fields.some((f) => f.name === n));
  if (missing) throw invalidInput("KEEP_COLUMN_MISSING", `keep_columns names "${missing}", which the rows do not have`);
  return new Table(Object.fromEntries(names.map((n) => [n, table.getChild(n)!])));
}

/**
 * The deployments this executor serves, as the scheduler's heartbeat answers assign them:
 * a new one (or a new version of one) is loaded and then answers; one no longer assigned
 * stops after answering what it took. A new version answers before the old one stops, so
 * an update leaves no gap.
 */
export class Serving {
  private readonly served = new Map<string, Served>();
  /** Versions that answer until the one replacing them is ready, by deployment. */
  private readonly retiring = new Map<string, Served[]>();

  constructor(
    private readonly deps: ExecutorDeps,
    /** Called when a deployment finished loading (or failed to), so the scheduler hears of it soon. */
    private readonly changed: () => void,
    private readonly retryBaseMs = RETRY_BASE_MS,
  ) {}

  reconcile(assignments: DeploymentAssignment[]): void {
    const wanted = new Map(assignments.map((a) => [a.deployment, a]));
    for (const [name, served] of this.served) {
      if (wanted.has(name)) continue;
      this.served.delete(name);
      for (const old of [served, ...this.retire(name)]) void old.stop();
    }
    const now = Date.now();
    for (const a of assignments) {
      const current = this.served.get(a.deployment);
      const same = current !== undefined && sameAssignment(current.assignment, a);
      if (same && !current.dueForRetry(now, this.retryBaseMs)) {
        current.logTo(a.requestLog);
        current.explainWith(a.explainer);
        continue;
      }
      // One that answers keeps answering until the next is ready; one that failed to load answers nothing.
      if (current && current.state !== ServedState.FAILED) this.retiring.set(a.deployment, [...(this.retiring.get(a.deployment) ?? []), current]);
      const next = new Served(this.deps, a, same ? current.failedLoads + 1 : 0);
      this.served.set(a.deployment, next);
      void next.start().then(async () => {
        if (this.served.get(a.deployment) !== next) return void (await next.stop());
        // A version that failed to load leaves the one before it answering.
        if (next.state === ServedState.READY) await Promise.all(this.retire(a.deployment).map((old) => old.stop()));
        this.changed();
      });
    }
  }

  status(): ServedDeployment[] {
    return [...this.served.values()].map((s) => s.status());
  }

  async stop(): Promise<void> {
    const all = [...this.served.values(), ...[...this.retiring.values()].flat()];
    this.served.clear();
    this.retiring.clear();
    await Promise.all(all.map((s) => s.stop()));
  }

  private retire(deployment: string): Served[] {
    const old = this.retiring.get(deployment) ?? [];
    this.retiring.delete(deployment);
    return old;
  }
}

function sameAssignment(a: DeploymentAssignment, b: DeploymentAssignment): boolean {
  return (
    a.modelVersion === b.modelVersion &&
    a.canaryModelVersion === b.canaryModelVersion &&
    a.canaryTrafficPercent === b.canaryTrafficPercent &&
    a.subject === b.subject &&
    a.maxBatchRows === b.maxBatchRows &&
    (a.maxBatchDelay ? durationMs(a.maxBatchDelay) : 0) === (b.maxBatchDelay ? durationMs(b.maxBatchDelay) : 0)
  );
}

/** The request, decoded once for its id and its rows; what could not be decoded, as the error the answer gives. */
function decodeServeRequest(data: Uint8Array): ServeRequest | Error {
  try {
    return fromBinary(ServeRequestSchema, data);
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}
