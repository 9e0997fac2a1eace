import { create } from "@bufbuild/protobuf";
import { Table } from "apache-arrow";
import { schemaFromIpc } from "@kiln/data";
import { camelKeys, canonicalKind, createEstimator, saidAsGiven, isEstimatorKind, kmeansRuns, loadModel, MLError, TrainingPool, type KMeansParams, type SerializedModel } from "@kiln/ml";
import { JobKind, JobResultSchema, type JobInput, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { TRAINABLE_ATTACHMENT, TRAINING_DATA } from "@kiln/contracts";
import { NotFoundError, type ModelVersionInfo } from "@kiln/sdk";
import { describeInput, featureAndTargetGroups, inputName, readFeaturesAndTargets } from "./data.js";
import { splitBatching, trainInBatches } from "./fit-batches.js";
import { featuresOf } from "./inference.js";
import { checkStopped, type JobContext } from "./job-context.js";
import { failedPrecondition, invalidInput } from "./job-failure.js";

/**
 * FIT and PARTIAL_FIT: trains the model's estimator on the inputs in a worker thread of
 * its own (so a cancel can stop it at once), then stores the result as a new version:
 * the ONNX export as the file, the kiln.ml state as an attachment, lineage and training
 * metrics. A retried attempt finds the version an earlier attempt stored and reuses it,
 * so a job makes one version.
 */
export async function runFit(ctx: JobContext): Promise<JobResult> {
  const { deps, job } = ctx;
  const parent = await ctx.model();
  const done = await versionOfJob(ctx, parent);
  if (done) return fitResult(done);
  const spec = await deps.models.trainable(parent);

  const x = job.x!;
  const y = job.y?.dataset ? job.y : undefined;
  const { version: data, columns } = await describeInput(deps, x, "x");
  const target = y ? await targetColumn(ctx, y) : undefined;
  const sameDataset = y?.dataset === x.dataset;
  // FIT starts over on X, as sklearn's fit does; PARTIAL_FIT goes on with the features the version learned.
  const learned = job.kind === JobKind.PARTIAL_FIT ? featuresOf(parent) : undefined;
  const features = x.columns.length ? x.columns : (learned ?? columns.map((c) => c.name).filter((c) => !(sameDataset && c === target)));
  // `classes` is not an estimator param but what sklearn's first partial_fit takes: every class y will have.
  const { classes, ...given } = (job.params ?? {}) as Record<string, unknown>;
  const { batching, params: jobParams } = splitBatching(job, given);
  const noRows = () => failedPrecondition("NO_ROWS", `${inputName(x, "x", true)} has no rows to train on`);
  const targets = y && target ? { input: y, column: target } : undefined;
  const schema = schemaFromIpc(data.arrowSchema);
  const stop = () => checkStopped(ctx.signal);
  const metrics: Record<string, number> = {};
  let estimator: ReturnType<typeof loadModel>;
  if (batching) {
    // Batch after batch, as the rows stream in: no more than a batch in memory, however big X is.
    ctx.progress.update({ message: `training ${spec.kind} on batches of ${batching.rows} rows` });
    const groups = () => featureAndTargetGroups(deps, x, features, columns, schema, targets, batching.rows, stop);
    const totalRows = x.filter ? undefined : Number(data.rowCount);
    const trained = await train(ctx, spec, jobParams, (pool, params) => trainInBatches(ctx, pool, { ...spec, params }, groups, batching, { classes: classList(classes), totalRows }));
    if (trained.rows === 0) throw noRows();
    estimator = loadModel(trained.model);
    metrics.rows_trained = trained.rows;
  } else {
    ctx.progress.update({ message: "reading data" });
    const read = await readFeaturesAndTargets(deps, x, features, columns, schema, targets, stop);
    const X = new Table(read.X);
    if (X.numRows === 0) throw noRows();
    const labels = read.labels;
    stop();
    ctx.progress.update({ message: `training ${spec.kind}` });
    estimator = loadModel(await train(ctx, spec, jobParams, (pool, params) => trainAtOnce(ctx, pool, spec, params, jobParams, X, labels, classes)));
    const scorer = estimator as Partial<{ score(X: Table, y?: unknown): number; inertia: number }>;
    if (labels && typeof scorer.score === "function") metrics.training_score = scorer.score(X, labels);
    // A clusterer scores without labels: minus its inertia on the training rows, as sklearn's KMeans.score(X).
    if (!labels && typeof scorer.score === "function" && typeof scorer.inertia === "number") {
      metrics.training_score = scorer.score(X);
      metrics.inertia = -metrics.training_score;
    }
  }
  stop();
  ctx.progress.update({ message: "storing the model" });
  // Stored as a local estimator is put (its ONNX export, its state attached, estimator, params, classes...), with what the job knows.
  const model = parent.name.split("/versions/")[0]!;
  const version = await deps.kiln.models.put(model, estimator, {
    // A model dropped while the job trained stays dropped: the fit is not stored in a new one of that name.
    createModel: false,
    // Its author is whoever submitted the job, not this executor.
    onBehalfOf: job.creator,
    fileName: `${parent.model}.onnx`,
    comment: `${JobKind[job.kind] === "FIT" ? "fit" : "partial fit"} of ${estimator.kind} by job ${job.name}`,
    metadata: {
      // The experiment link is the model's: a version fitted from a tracked one stays tracked.
      ...(parent.metadata.tracking === undefined ? {} : { tracking: parent.metadata.tracking }),
      features,
      ...(target ? { target } : {}),
      ...(x.temporary ? {} : { [TRAINING_DATA]: { dataset: x.dataset, version: Number(x.version), filter: x.filter } }),
      ...metrics,
    },
    lineage: {
      sourceDatasets: sourceDatasets([x, ...(y ? [y] : [])]),
      trainingJob: job.name,
      parentVersion: parent.name,
    },
  }).catch((e: unknown) => {
    if (e instanceof NotFoundError) throw failedPrecondition("MODEL_DELETED", `${model} was deleted while the job trained; the fitted model is not stored`);
    throw e;
  });
  return fitResult(version, metrics);
}

/** The stored datasets a fit read, each once (X and Y are often one dataset); temporary inputs are gone after the job. */
function sourceDatasets(inputs: JobInput[]): { name: string; version: number }[] {
  const seen = new Map<string, { name: string; version: number }>();
  for (const d of inputs) if (!d.temporary) seen.set(`${d.dataset}@${d.version}`, { name: d.dataset, version: Number(d.version) });
  return [...seen.values()];
}

function fitResult(version: ModelVersionInfo, metrics: Record<string, number> = {}): JobResult {
  const recorded: Record<string, number> = typeof version.metadata.training_score === "number" ? { training_score: version.metadata.training_score } : {};
  return create(JobResultSchema, { modelVersion: version.name, ranModelVersion: version.lineage?.parentVersion ?? "", metrics: { ...recorded, ...metrics } });
}

/** A version this job stored in an earlier attempt (complete: with its trainable state). */
async function versionOfJob(ctx: JobContext, parent: ModelVersionInfo): Promise<ModelVersionInfo | undefined> {
  const log = await ctx.deps.kiln.models.log(parent.name.split("/versions/")[0]!);
  return log.find((v) => v.lineage?.trainingJob === ctx.job.name && v.attachments.some((a) => a.name === TRAINABLE_ATTACHMENT));
}

/**
 * Runs `work` on a training pool of its own (closing it is how a cancel or timeout stops
 * training mid-epoch), with the estimator's params and the job's merged; errors come back
 * naming params as the job gave them.
 */
async function train<T>(ctx: JobContext, spec: SerializedModel, jobParams: Record<string, unknown>, work: (pool: TrainingPool, params: Record<string, unknown>) => Promise<T>): Promise<T> {
  const pool = new TrainingPool({ size: 1 });
  const stop = () => void pool.close();
  ctx.signal.addEventListener("abort", stop);
  try {
    return await work(pool, camelKeys({ ...spec.params, ...jobParams }));
  } catch (e) {
    checkStopped(ctx.signal);
    saidAsGiven(e, { ...spec.params, ...jobParams });
    if (e instanceof MLError && e.reason === "CLASSES_REQUIRED") {
      throw failedPrecondition("CLASSES_REQUIRED", "the first partial fit of a classifier needs every class y will ever have: pass them as params.classes (e.g. --param 'classes=[0,1]')");
    }
    throw e;
  } finally {
    ctx.signal.removeEventListener("abort", stop);
    await pool.close();
  }
}

/** FIT, or PARTIAL_FIT on all of X as one batch; progress per epoch, with a fraction where the epochs are planned. */
function trainAtOnce(
  ctx: JobContext,
  pool: TrainingPool,
  spec: SerializedModel,
  params: Record<string, unknown>,
  jobParams: Record<string, unknown>,
  X: Table,
  y: (number | string)[] | undefined,
  classes: unknown,
): Promise<SerializedModel> {
  const planned = ctx.job.kind === JobKind.FIT ? plannedEpochs(spec.kind, params) : undefined;
  const onEpoch = (p: { epoch: number; loss?: number; metrics?: Record<string, number> }) =>
    ctx.progress.update({
      epoch: p.epoch,
      ...(planned ? { fraction: Math.min(1, p.epoch / planned) } : {}),
      metrics: { ...(p.loss === undefined ? {} : { loss: p.loss }), ...p.metrics },
    });
  if (ctx.job.kind === JobKind.PARTIAL_FIT) return pool.partialFit({ ...spec, params }, X, y, { onEpoch, classes: classList(classes) });
  if (classes !== undefined) throw invalidInput("CLASSES_NOT_TAKEN", "params.classes is for PARTIAL_FIT (a classifier's first batch); FIT learns the classes from y");
  // A composite (a Pipeline put from a local estimator) is no kind with params: refit its shape, job params set on it.
  if (spec.state != null && !isEstimatorKind(spec.kind)) return pool.refit(spec, camelKeys(jobParams), X, y, { onEpoch });
  return pool.fit(spec.kind, params, X, y, { onEpoch });
}

async function targetColumn(ctx: JobContext, y: JobInput): Promise<string> {
  if (y.columns[0]) return y.columns[0];
  const { columns } = await describeInput(ctx.deps, y, "y");
  if (y.dataset === ctx.job.x!.dataset) {
    throw failedPrecondition("TARGET_AMBIGUOUS", `x and y are both ${inputName(y, "y")}: name the target column in y's columns`);
  }
  if (columns.length !== 1) throw failedPrecondition("TARGET_AMBIGUOUS", `${inputName(y, "y")} has ${columns.length} columns: name the target column in y's columns`);
  return columns[0]!.name;
}

/**
 * The epochs a FIT plans (an upper bound: some stop early), from its estimator's params and
 * their defaults, so progress has a fraction; none for estimators without epochs or bad params.
 */
export function plannedEpochs(kind: string, params: Record<string, unknown>): number | undefined {
  if (!isEstimatorKind(kind)) return undefined;
  let p: Record<string, unknown>;
  try {
    p = createEstimator(kind, params).getParams();
  } catch {
    return undefined; // the training reports what is wrong with the params
  }
  if (canonicalKind(kind) === "KMeans") return kmeansRuns(p as unknown as KMeansParams);
  return typeof p.maxIter === "number" ? p.maxIter : undefined;
}

function classList(classes: unknown): (number | string)[] | undefined {
  if (classes === undefined) return undefined;
  if (!Array.isArray(classes) || classes.length === 0 || !classes.every((c) => typeof c === "number" || typeof c === "string")) {
    throw invalidInput("INVALID_CLASSES", `params.classes must be a list of class labels (numbers or strings), got ${JSON.stringify(classes)}`);
  }
  return classes as (number | string)[];
}
