import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { randomUUID } from "./random-id.js";
import type { Client } from "@connectrpc/connect";
import { Table, type RecordBatch } from "apache-arrow";
import { decodeChunk, tableToIpc } from "@kiln/data";
import { firstItems, TEMPORARY_INPUT_LABEL } from "@kiln/contracts";
import { JobKind, JobState, RuntimeService, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Datasets } from "./datasets.js";
import type { ProgressListener } from "./transfer.js";
import { call, stream } from "./errors.js";
import { asTable, type DatasetInput } from "./inputs.js";
import { executorInfo, jobError, jobInfo, kindNames, stateNames, type ExecutorInfo, type JobDriftInfo, type JobInfo, type JobKindName, type JobStateName } from "./job-summaries.js";
import type { DriftOptions } from "./drift.js";
import { explainParams, type Explanation, type ExplainOptions } from "./explain.js";
import { modelName, versionName } from "./model-refs.js";
import { resourceName, shortName } from "./names.js";
import { gridSearch, type GridSearchOptions, type GridSearchResult } from "./grid-search.js";
import { datasetSelection, isDatasetSpec, type DatasetRef } from "./dataset-refs.js";

/** Data sent along with a job: a table (rows, columns, Arrow), a tensor, or record batches streamed (from a file). */
export type LocalJobData = DatasetInput | AsyncIterable<RecordBatch | Table>;

/**
 * A dataset by name (`"sales"`, `"sales@3"` for version 3), by spec, or local data to send
 * along (as a temporary dataset, dropped after the job), alone or with the columns to use.
 */
export type JobData = DatasetRef | { local: LocalJobData; columns?: string[] } | LocalJobData;

export interface JobOptions {
  /** Estimator params for FIT (override the model's), or NOOP's sleep_ms / fail. */
  params?: Record<string, unknown>;
  /** PREDICT / PREDICT_PROBA / TRANSFORM also write their results to this dataset. */
  output?: string;
  /** PREDICT / PREDICT_PROBA / TRANSFORM: X's columns (an id, say) copied into each result row before the outputs. */
  keep?: string[];
  /** Only executors with all these labels take the job (added to the runtime's `require`). */
  labels?: string[];
  timeoutMs?: number;
  maxAttempts?: number;
  /** Idempotency key: submitting the same key again returns the first job. */
  requestId?: string;
  /**
   * Jobs (handles, ids or names) that must succeed first: the job waits, queued, until they
   * did, and fails or is cancelled with them (added to the runtime's `after`).
   */
  after?: JobRef | readonly JobRef[];
  /**
   * Reuse the result of an earlier job of the project that did the same work (the same
   * kind, model version, input content, params, keep and output) while what it made is
   * still there: the job ends succeeded at once, `reusedFrom` naming that job, without
   * running (Megatron's cached outputs). Also `kiln.runtime.reusing()`.
   */
  reuse?: boolean;
  /** Called as local data goes up (bytes sent so far), before the job is submitted. */
  onUploadProgress?: ProgressListener;
}

/** One job of `submitMany`: its kind, model and data, and the options of a single submit. */
export interface JobSpec extends Omit<JobOptions, "after"> {
  kind: JobKindName;
  /** `name`, `name:3`, `name:prod` (not for noop). */
  model?: string;
  x?: JobData;
  y?: JobData;
  /** As JobOptions' `after`; a number is the index of an earlier spec of the same `submitMany`. */
  after?: JobRef | number | readonly (JobRef | number)[];
}

/** A job a schedule submits: its data named, not carried along, and after no other job. */
export interface ScheduledJobSpec extends Omit<JobOptions, "after" | "requestId" | "onUploadProgress">, DriftJobOptions, ExplainOptions {
  kind: JobKindName;
  model?: string;
  x?: DatasetRef;
  /** Targets; for explain, the background rows. */
  y?: DatasetRef;
}

/** Which jobs `purgeJobs` deletes. */
export interface PurgeOptions {
  /** Jobs that ended before this time. */
  endedBefore: Date;
  /** Only jobs in these final states (default: succeeded, failed and cancelled). */
  states?: JobStateName[];
  /** `name`: any version's jobs; `name:3`, `name:prod`: that version's. */
  model?: string;
  /** Only jobs that require this executor label. */
  label?: string;
  /** Count them; delete nothing. */
  dryRun?: boolean;
  /** Called with the count deleted so far: the jobs go 10,000 a call instead of in one. */
  onProgress?: (deleted: number) => void;
}

/** A job by handle, id or name. */
export type JobRef = JobHandle | string;

/** Jobs deleted per call of a purge that reports its progress. */
const PURGE_BATCH = 10_000;

/** Jobs per SubmitJobs call (the server's limit). */
const SUBMIT_BATCH = 1000;

/** `kiln.runtime`: OmegaML's runtime. `kiln.runtime.model("churn").fit("X", "y")` → a JobHandle at once. */
export class Runtime {
  constructor(
    private readonly client: Client<typeof RuntimeService>,
    private readonly project: string,
    private readonly datasets: Datasets,
    private readonly labels: string[] = [],
    private readonly before: string[] = [],
    private readonly reuse = false,
  ) {}

  /** A runtime whose jobs run only on executors with these labels (OmegaML's `require`). */
  require(requirement: { labels: string[] }): Runtime {
    return new Runtime(this.client, this.project, this.datasets, [...this.labels, ...requirement.labels], this.before, this.reuse);
  }

  /**
   * A runtime whose jobs reuse what earlier jobs that did the same work made (JobOptions'
   * `reuse`): a pipeline submitted again, `kiln.runtime.reusing().sequence([...])`, runs
   * only the steps whose model, data or params changed, and the steps after them.
   */
  reusing(): Runtime {
    return new Runtime(this.client, this.project, this.datasets, this.labels, this.before, true);
  }

  /**
   * A runtime whose jobs run after these have succeeded, and fail or are cancelled with
   * them: `kiln.runtime.after(fit).model("churn").predict("X")` predicts with the version
   * the fit makes. Several jobs after the same ones run in parallel; one after several is
   * a reduce step.
   */
  after(...jobs: JobRef[]): Runtime {
    return new Runtime(this.client, this.project, this.datasets, this.labels, [...this.before, ...jobs.map((j) => this.jobName(j))], this.reuse);
  }

  /**
   * Submits jobs that run one after another (omega-ml's `runtime.sequence()`): each step
   * gets a runtime whose jobs run after the previous step's, and the steps are all
   * submitted at once, without waiting for any to run. A failed step fails the ones after it.
   *
   *     const [fit, predictions] = await kiln.runtime.sequence([
   *       (rt) => rt.model("churn").fit("X", "y"),
   *       (rt) => rt.model("churn").predict("X_new"),
   *     ]);
   */
  async sequence<T extends readonly ((runtime: Runtime) => Promise<JobHandle<JobOutcome>>)[]>(steps: readonly [...T]): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> }> {
    const handles: JobHandle[] = [];
    for (const step of steps) handles.push(await step(handles.length ? this.after(handles.at(-1)!) : this));
    return handles as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]>> };
  }

  private jobName(job: JobRef): string {
    if (typeof job !== "string") return job.name;
    return /^requests\/\d+$/.test(job) ? job : resourceName(this.project, "jobs", job);
  }

  model(ref: string): RuntimeModel {
    return new RuntimeModel(this, versionName(this.project, ref));
  }

  /** A handle on a job by id or name (its outcome's type depends on its kind, known once it is read). */
  job(idOrName: string): JobHandle {
    return new JobHandle(this.client, resourceName(this.project, "jobs", idOrName));
  }

  /** NOOP jobs, for drills and dispatch benchmarks. */
  noop(options: JobOptions = {}): Promise<JobHandle<JobInfo>> {
    return this.submit(JobKind.NOOP, "", undefined, undefined, options);
  }

  /** "churn": any version's jobs; "churn:3" or "churn:prod": that version's. */
  private modelFilter(model: string): string {
    return model.includes(":") ? versionName(this.project, model) : modelName(this.project, model);
  }

  /** Newest first; `schedule`: the jobs that schedule (its id or name) submitted. */
  async jobs(options: { states?: JobStateName[]; model?: string; label?: string; schedule?: string; limit?: number } = {}): Promise<JobInfo[]> {
    return firstItems(options.limit ?? 100, 1000, async (pageSize, pageToken) => {
      const res = await call(() =>
        this.client.listJobs({
          parent: `projects/${this.project}`,
          states: (options.states ?? []).map((s) => stateNames[s]),
          model: options.model ? this.modelFilter(options.model) : "",
          label: options.label ?? "",
          schedule: options.schedule ? resourceName(this.project, "schedules", options.schedule) : "",
          pageSize,
          pageToken,
        }),
      );
      return { items: res.jobs.map(jobInfo), nextPageToken: res.nextPageToken };
    });
  }

  /**
   * Deletes the jobs that ended before `endedBefore` (all that are over, or those in
   * `states`, of a model, with a label), or with `dryRun` only counts them. Gives how many,
   * and up to 100 of their ids, oldest first. What the jobs made (model versions, output
   * datasets) stays.
   */
  async purgeJobs(options: PurgeOptions): Promise<{ count: number; sample: string[] }> {
    const force = !options.dryRun;
    const batch = force && options.onProgress ? PURGE_BATCH : 0;
    const request = {
      parent: `projects/${this.project}`,
      endBefore: timestampFromDate(options.endedBefore),
      states: (options.states ?? []).map((s) => stateNames[s]),
      model: options.model ? this.modelFilter(options.model) : "",
      label: options.label ?? "",
      force,
      maxCount: BigInt(batch),
    };
    let count = 0;
    const sample: string[] = [];
    for (;;) {
      const res = await call(() => this.client.purgeJobs(request));
      count += Number(res.purgeCount);
      sample.push(...res.purgeSample.slice(0, 100 - sample.length).map(shortName));
      if (force) options.onProgress?.(count);
      if (!batch || res.purgeCount < BigInt(batch)) return { count, sample };
    }
  }

  async executors(): Promise<ExecutorInfo[]> {
    const res = await call(() => this.client.listExecutors({ pageSize: 1000 }));
    return res.executors.map(executorInfo);
  }

  /**
   * Submits many jobs with one call per thousand (a grid search, a scoring run per
   * partition, a drill): far cheaper than a submit each. Each thousand is queued all or
   * none; a bad spec fails its call with the spec's index, and the calls after it are not
   * made. Handles come back in the order of the specs.
   */
  async submitMany(specs: readonly JobSpec[]): Promise<JobHandle[]> {
    const handles: JobHandle[] = [];
    for (let start = 0; start < specs.length; start += SUBMIT_BATCH) {
      const batch = specs.slice(start, start + SUBMIT_BATCH);
      const jobs = await this.sending(async (sent) => {
        const requests: { job: Awaited<ReturnType<Runtime["jobMessage"]>>; requestId: string }[] = [];
        for (const [k, spec] of batch.entries()) {
          const kind = kindNames[spec.kind];
          if (kind === undefined) throw new TypeError(`unknown job kind "${spec.kind}": use one of ${Object.keys(kindNames).join(", ")}`);
          const model = spec.model === undefined ? "" : versionName(this.project, spec.model);
          // An earlier spec of this call is its request (requests/{i}); of an earlier call, its job.
          const after = [spec.after ?? []].flat().map((ref) => {
            if (typeof ref !== "number") return ref;
            if (!Number.isInteger(ref) || ref < 0 || ref >= start + k) throw new TypeError(`specs[${start + k}].after: ${ref} is not the index of an earlier spec`);
            return ref < start ? handles[ref]! : `requests/${ref - start}`;
          });
          requests.push({ job: await this.jobMessage(kind, model, spec.x, spec.y, { ...spec, after }, sent), requestId: spec.requestId ?? "" });
        }
        return (await call(() => this.client.submitJobs({ parent: `projects/${this.project}`, requests }))).jobs;
      });
      handles.push(...jobs.map((job) => new JobHandle(this.client, job.name, job)));
    }
    return handles;
  }

  /** @internal */
  async submit<T extends JobOutcome>(kind: JobKind, model: string, x: JobData | undefined, y: JobData | undefined, options: JobOptions): Promise<JobHandle<T>> {
    const job = await this.sending(async (sent) => {
      const message = await this.jobMessage(kind, model, x, y, options, sent);
      return (await call(() => this.client.submitJob({ parent: `projects/${this.project}`, job: message, requestId: options.requestId ?? "" }))).job!;
    });
    return new JobHandle<T>(this.client, job.name, job);
  }

  /** Runs a submit; if it fails, the data uploaded for it has no one to clean it up, so it is dropped here. */
  private async sending<T>(submit: (sent: LocalDataSent) => Promise<T>): Promise<T> {
    const sent: LocalDataSent = { temporaries: [], inlineBytesLeft: INLINE_INPUT_BYTES };
    try {
      return await submit(sent);
    } catch (e) {
      await Promise.all(sent.temporaries.map((t) => this.datasets.drop(t, { force: true }).catch(() => {})));
      throw e;
    }
  }

  private async jobMessage(kind: JobKind, model: string, x: JobData | undefined, y: JobData | undefined, options: JobOptions, sent: LocalDataSent) {
    const upload = acrossInputs(options.onUploadProgress);
    return {
      ...this.jobFields(options),
      kind,
      model,
      x: x === undefined ? undefined : await this.input(x, sent, upload()),
      y: y === undefined ? undefined : await this.input(y, sent, upload()),
      after: [...this.before, ...[options.after ?? []].flat().map((j) => this.jobName(j))],
    };
  }

  /** @internal A job as a schedule keeps it: its model and data named (stored datasets only), "latest" left to each submit. */
  scheduledJob(spec: ScheduledJobSpec) {
    const kind = kindNames[spec.kind];
    if (kind === undefined) throw new TypeError(`unknown job kind "${spec.kind}": use one of ${Object.keys(kindNames).join(", ")}`);
    const named = (data: DatasetRef | undefined, what: string) => {
      if (data === undefined) return undefined;
      if (typeof data !== "string" && !isDatasetSpec(data)) throw new TypeError(`a scheduled job's ${what} is a stored dataset ("name", "name@3" or { dataset, columns, filter }): put local data first`);
      const { name, ...selection } = datasetSelection(this.project, data);
      return { dataset: name, ...selection };
    };
    const params = kind === JobKind.DRIFT ? { ...spec.params, ...driftParams(spec) } : kind === JobKind.EXPLAIN ? { ...spec.params, ...explainParams(spec) } : spec.params;
    return { ...this.jobFields({ ...spec, params }), kind, model: spec.model === undefined ? "" : versionName(this.project, spec.model), x: named(spec.x, "x"), y: named(spec.y, "y") };
  }

  /** What a job message takes from the options, whatever its data. */
  private jobFields(options: Omit<JobOptions, "after">) {
    return {
      params: options.params as Job["params"],
      outputDataset: options.output ? resourceName(this.project, "datasets", options.output) : "",
      keepColumns: options.keep ?? [],
      requiredLabels: [...this.labels, ...(options.labels ?? [])],
      timeout: options.timeoutMs ? durationFromMs(options.timeoutMs) : undefined,
      maxAttempts: options.maxAttempts ?? 0,
      reuse: options.reuse ?? this.reuse,
    };
  }

  private async input(data: JobData, sent: LocalDataSent, onProgress?: ProgressListener) {
    if (typeof data === "string" || isDatasetSpec(data)) {
      const { name, ...selection } = datasetSelection(this.project, data);
      return { dataset: name, ...selection };
    }
    if (isLocalSpec(data)) return { ...(await this.local(data.local, sent, onProgress)), columns: data.columns ?? [] };
    return this.local(data, sent, onProgress);
  }

  /**
   * Local data travels in the submit itself while the call's share allows (the scheduler
   * stores it), else as a temporary dataset uploaded first; either is dropped by the
   * scheduler once the job is over.
   */
  private async local(data: LocalJobData, sent: LocalDataSent, onProgress?: ProgressListener) {
    const temporary = () => {
      const name = `tmp-${randomUUID()}`;
      sent.temporaries.push(name);
      // The label lets the scheduler drop it: it refuses to treat a dataset without it as temporary.
      return { name, options: { mode: "create", labels: { [TEMPORARY_INPUT_LABEL]: "true" }, comment: "job input", onProgress } as const };
    };
    if (isAsyncIterable(data)) {
      const { name, options } = temporary();
      const info = await this.datasets.write(name, data, options);
      return { dataset: resourceName(this.project, "datasets", name), version: BigInt(info.version), temporary: true };
    }
    const { table, positional } = asTable(data);
    // Positional data has no names to match a model's features by: its columns, in order, are the features.
    const columns = positional ? table.schema.fields.map((f) => f.name) : [];
    const ipc = tableToIpc(table);
    if (ipc.byteLength <= sent.inlineBytesLeft) {
      sent.inlineBytesLeft -= ipc.byteLength;
      onProgress?.({ bytes: ipc.byteLength });
      return { local: { case: "arrowIpc" as const, value: ipc }, columns };
    }
    const { name, options } = temporary();
    const info = await this.datasets.put(name, table, options);
    return { dataset: resourceName(this.project, "datasets", name), version: BigInt(info.version), temporary: true, columns };
  }
}

/**
 * Local data a submit call may carry in itself, in Arrow IPC bytes (the rest is uploaded as
 * temporary datasets first): no upload calls before the submit, and nothing left behind
 * if the client goes away between them (the scheduler drops what a refused submit stored).
 * Well within any server's message limit (KILN_MAX_MESSAGE_BYTES, at least 8 MiB).
 */
const INLINE_INPUT_BYTES = 1024 * 1024;

/** What a submit call sent of its local data: datasets uploaded, and what it may still carry in itself. */
interface LocalDataSent {
  temporaries: string[];
  inlineBytesLeft: number;
}

/** One listener for a job's uploads: the bytes of Y's count on from X's. Each call gives the next input's listener. */
function acrossInputs(listener: ProgressListener | undefined): () => ProgressListener | undefined {
  let before = 0;
  return () => {
    if (!listener) return undefined;
    const start = before;
    return (p) => {
      before = start + p.bytes;
      listener({ bytes: before });
    };
  };
}

function isAsyncIterable(v: unknown): v is AsyncIterable<RecordBatch | Table> {
  return typeof v === "object" && v !== null && Symbol.asyncIterator in v;
}

function isLocalSpec(v: unknown): v is { local: LocalJobData; columns?: string[] } {
  if (typeof v !== "object" || v === null || !("local" in v)) return false;
  const { columns } = v as { columns?: unknown };
  return Object.keys(v).every((k) => k === "local" || k === "columns") && (columns === undefined || (Array.isArray(columns) && columns.every((c) => typeof c === "string")));
}

/**
 * Jobs read tables. Named data (rows, columns, Arrow) keeps its names; positional data (a
 * tensor [N, k] or an array of number rows, as sklearn's X) becomes k float columns
 * x0…x{k-1}, and a vector one column "y".
 */
/** A model as the runtime sees it: each call submits a job and returns its handle. */
export class RuntimeModel {
  constructor(
    private readonly runtime: Runtime,
    readonly ref: string,
  ) {}

  fit(X: JobData, Y?: JobData, options: JobOptions = {}): Promise<JobHandle<FitOutcome>> {
    return this.runtime.submit(JobKind.FIT, this.ref, X, Y, options);
  }
  partialFit(X: JobData, Y?: JobData, options: JobOptions = {}): Promise<JobHandle<FitOutcome>> {
    return this.runtime.submit(JobKind.PARTIAL_FIT, this.ref, X, Y, options);
  }
  predict(X: JobData, options: JobOptions = {}): Promise<JobHandle<Table>> {
    return this.runtime.submit(JobKind.PREDICT, this.ref, X, undefined, options);
  }
  predictProba(X: JobData, options: JobOptions = {}): Promise<JobHandle<Table>> {
    return this.runtime.submit(JobKind.PREDICT_PROBA, this.ref, X, undefined, options);
  }
  /**
   * Metrics against the targets Y; a clusterer scores without them (sklearn's KMeans.score(X)).
   * `metrics`: sklearn's scorer names (f1, f1_macro, roc_auc, log_loss, rmse, mape…) or "all"
   * (MLflow evaluate's defaults); without, accuracy, or r2, mse and mae.
   */
  score(X: JobData, Y?: JobData, options: JobOptions & { metrics?: readonly string[] | "all" } = {}): Promise<JobHandle<Metrics>> {
    const { metrics, ...rest } = options;
    return this.runtime.submit(JobKind.SCORE, this.ref, X, Y, metrics === undefined ? rest : { ...rest, params: { ...rest.params, metrics: metrics === "all" ? "all" : [...metrics] } });
  }
  transform(X: JobData, options: JobOptions = {}): Promise<JobHandle<Table>> {
    return this.runtime.submit(JobKind.TRANSFORM, this.ref, X, undefined, options);
  }
  /**
   * X compared, on the features the version learned, with the data it was trained on, as a
   * job (models.drift does it in the call; a job can be scheduled, and is kept): `get()`
   * gives the comparison. `failOnDrift`: drift fails the job (FailedPreconditionError DATA_DRIFT).
   */
  drift(X: JobData, options: JobOptions & DriftJobOptions = {}): Promise<JobHandle<JobDriftInfo>> {
    const { psiThreshold, pValueThreshold, failOnDrift, ...rest } = options;
    return this.runtime.submit(JobKind.DRIFT, this.ref, X, undefined, { ...rest, params: { ...rest.params, ...driftParams({ psiThreshold, pValueThreshold, failOnDrift }) } });
  }
  /**
   * Why the model gave X's rows their outputs, as a job: Shapley values of each feature
   * against background rows (`background`, else the data the version was trained on), as
   * SHAP's explainers give them. `get()` gives the rows (`prediction`, or `class` and
   * `probability`; `base_value`; `shap_<feature>`) and each feature's mean |value|;
   * `results()` streams the rows as they are explained.
   */
  explain(X: JobData, options: JobOptions & ExplainOptions & { background?: JobData } = {}): Promise<JobHandle<Explanation>> {
    const { background, backgroundRows, method, permutations, randomState, class: explained, ...rest } = options;
    return this.runtime.submit(JobKind.EXPLAIN, this.ref, X, background, { ...rest, params: { ...rest.params, ...explainParams({ backgroundRows, method, permutations, randomState, class: explained }) } });
  }
  /**
   * Fits every combination of `grid`'s params (each a new version), scores each on
   * `scoreOn` (or the training data) and ranks them (omega-ml's gridsearch, without its
   * cross-validation): `best.modelVersion` is the version to use.
   */
  gridSearch(X: JobData, Y: JobData | undefined, options: GridSearchOptions): Promise<GridSearchResult> {
    return gridSearch(this.runtime, this.ref, X, Y, options);
  }
}

const FINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED]);
const TABLE_RESULTS = new Set<JobKindName>(["predict", "predict_proba", "transform", "explain"]);

/** Whether jobs of this kind have result rows to read (`results()`): PREDICT, PREDICT_PROBA, TRANSFORM and EXPLAIN. */
export function hasResultRows(kind: JobKindName): boolean {
  return TABLE_RESULTS.has(kind);
}

export interface DriftJobOptions extends DriftOptions {
  /** Drift fails the job (FAILED_PRECONDITION, DATA_DRIFT) instead of succeeding with `drifted`. */
  failOnDrift?: boolean;
}

/** A DRIFT job's params, as the executor reads them. */
export function driftParams(options: DriftJobOptions): Record<string, number | boolean> {
  return {
    ...(options.psiThreshold !== undefined && { psi_threshold: options.psiThreshold }),
    ...(options.pValueThreshold !== undefined && { p_value_threshold: options.pValueThreshold }),
    ...(options.failOnDrift !== undefined && { fail_on_drift: options.failOnDrift }),
  };
}

/** A SCORE's metrics (accuracy; r2, mse, mae; a clusterer's score and inertia), or a fit's training metrics. */
export type Metrics = Record<string, number>;
/** A FIT or PARTIAL_FIT's new version and its training metrics. */
export interface FitOutcome {
  modelVersion: string;
  metrics: Metrics;
}
/**
 * What `get()` resolves to, by job kind: a table of results (PREDICT, PREDICT_PROBA,
 * TRANSFORM), a FitOutcome, SCORE's Metrics, DRIFT's comparison, or the job's info (NOOP).
 * The handles that `model(...).predict()` and friends return are typed by their kind.
 */
export type JobOutcome = Table | FitOutcome | Metrics | JobDriftInfo | Explanation | JobInfo;

/** A submitted job: promise-like (`get()`), observable (`watch()`), streamable (`results()`), cancellable. */
export class JobHandle<T extends JobOutcome = JobOutcome> {
  readonly id: string;

  constructor(
    private readonly client: Client<typeof RuntimeService>,
    readonly name: string,
    private readonly submitted?: Job,
  ) {
    this.id = shortName(name);
  }

  async info(): Promise<JobInfo> {
    return jobInfo((await call(() => this.client.getJob({ name: this.name }))).job!);
  }

  /** The job now, then on every change of state or progress, until it ends. */
  async *watch(): AsyncGenerator<JobInfo> {
    for await (const res of stream(this.client.watchJob({ name: this.name }))) yield jobInfo(res.job!);
  }

  /** Result chunks (Arrow tables) as the executor produces them, in order. */
  async *results(): AsyncGenerator<Table> {
    for await (const res of stream(this.client.readJobResults({ name: this.name }))) yield decodeChunk(res.chunk!.arrowIpc);
  }

  /**
   * Waits for the end and gives the result: predictions as one Arrow table (PREDICT,
   * PREDICT_PROBA, TRANSFORM), metrics (SCORE), the new version and training metrics (FIT,
   * PARTIAL_FIT). A failed or cancelled job throws its error, typed by its code.
   */
  async get(): Promise<T> {
    return (await this.outcome()) as T;
  }

  private async outcome(): Promise<JobOutcome> {
    const kind = this.submitted ? jobInfo(this.submitted).kind : (await this.info()).kind;
    if (hasResultRows(kind)) {
      const tables: Table[] = [];
      for await (const table of this.results()) tables.push(table);
      const info = await this.wait();
      const rows = tables.length ? tables.reduce((a, b) => a.concat(b)) : new Table();
      return kind === "explain" && info.result?.explanation ? { ...info.result.explanation, rows } : rows;
    }
    const info = await this.wait();
    if (kind === "score") return info.result?.metrics ?? {};
    if (kind === "fit" || kind === "partial_fit") return { modelVersion: info.result?.modelVersion ?? "", metrics: info.result?.metrics ?? {} };
    if (kind === "drift" && info.result?.drift) return info.result.drift;
    return info;
  }


  /** The job once it ends; throws the job's error unless it succeeded. */
  async wait(): Promise<JobInfo> {
    let last: JobInfo | undefined;
    for await (const info of this.watch()) last = info;
    if (!last || !FINAL.has(stateNames[last.state])) last = await this.info();
    if (last.state !== "succeeded") throw jobError(last);
    return last;
  }

  async cancel(): Promise<JobInfo> {
    return jobInfo((await call(() => this.client.cancelJob({ name: this.name }))).job!);
  }

  /** Deletes the job once it is over (FailedPreconditionError while it is queued or running: cancel it first). */
  async delete(): Promise<void> {
    await call(() => this.client.deleteJob({ name: this.name }));
  }
}
