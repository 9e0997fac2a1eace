import { create } from "@bufbuild/protobuf";
import { RecordBatch, Schema, Table } from "apache-arrow";
import { schemaFromIpc } from "@kiln/data";
import { isColumnsFeed, OnnxRunError, type OnnxFeeds, type OnnxTensorData } from "@kiln/onnx";
import { labelType } from "@kiln/ml";
import { JobKind, JobResultSchema, type JobInput, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { prefetchInOrder, type ModelVersionInfo, type TensorSignature } from "@kiln/sdk";
import { featuresIn, isClassifier, isClusterer, PREDICTS } from "@kiln/contracts";
import { availableParallelism } from "node:os";
import { columnValues, describeInput, inputName, readJobRows, readValues, sameRows, sliceChunks } from "./data.js";
import { FeedBuffers } from "./feed-buffers.js";
import { planFeatures, type ColumnInfo } from "./features.js";
import { checkStopped, type JobContext } from "./job-context.js";
import { failedPrecondition } from "./job-failure.js";
import { checkNoMissingValues, hasNulls, nonFiniteFailure, refusesMissingValues } from "./missing-values.js";
import { runOnnx } from "./onnx-run.js";
import { ResultRows } from "./result-rows.js";
import { classifierMetrics, needsProbabilities, regressorMetrics, wantedMetrics, type Probabilities, type WantedMetrics } from "./score-metrics.js";
import { runnableOutput } from "./runnable-output.js";
import { copyColumns, inertiaOf, outputTable, pickOutput, predictionValues, withKept } from "./outputs.js";

/**
 * Rows per model run: big enough to amortize a call and a result message, small enough to
 * stream steadily. 131,072 (a stored 4 MiB chunk of four float64 columns is one run) made a
 * million-row linear predict ~20% faster than 65,536, the MLP's ~5%.
 */
const BATCH_ROWS = 131_072;
/**
 * Rows in a job's first batch; the next ones double up to BATCH_ROWS. The first results
 * then come back after the model ran on a few rows rather than on a whole batch: the first
 * chunk of a million-row MLP predict came back after 21–38 ms instead of 43–52, on an
 * executor process 40–58 instead of 70–92; the linear model's 21 instead of 26–30; the
 * 100-tree forest's ~100 ms instead of ~590. Each job is as fast in all, once a stored
 * chunk's short rest goes with its last slice (see sliceChunks): a 10,312-row sliver
 * after a 65,536-row batch left one ONNX worker idle and the forest took 2.68–2.70 s
 * instead of 2.25–2.40.
 */
const FIRST_BATCH_ROWS = 16_384;
/**
 * Model runs in flight at once, in the worker pool (at most 4 workers): one at a time used
 * one core, which halved a compute-bound model's speed against onnxruntime on all cores.
 */
export const RUNS_IN_FLIGHT = Math.max(1, Math.min(4, availableParallelism()));
/**
 * Input buffers kept between jobs: one per run in flight and one for the batch being
 * prepared, for two jobs at once, within 64 MiB (a batch of four features is 2 MiB).
 */
const feedBuffers = new FeedBuffers(2 * (RUNS_IN_FLIGHT + 1), 64 * 1024 ** 2);

/**
 * PREDICT, PREDICT_PROBA, TRANSFORM and SCORE: the input's rows through the model in
 * batches, a few running at once, each batch's results published (and written to the
 * output dataset) in order.
 */
export async function runInference(ctx: JobContext): Promise<JobResult> {
  const { deps, job } = ctx;
  const version = await ctx.model();
  const x = job.x!;
  const { version: data, columns } = await describeInput(deps, x, "x");
  const schema = schemaFromIpc(data.arrowSchema);
  const plan = planFeatures(version.signature?.inputs ?? [], columns, x.columns.length ? x.columns : featuresFor(version, columns));
  const scoring = job.kind === JobKind.SCORE;
  if ((scoring || job.kind === JobKind.PREDICT) && transformsOnly(version)) {
    throw failedPrecondition("NOT_A_PREDICTOR", `${version.name} (${String(version.metadata.estimator)}) only transforms: it has nothing to ${scoring ? "score" : "predict"}; run transform`);
  }
  // A clusterer scores as sklearn's KMeans.score: minus the inertia, from its distances to the centers (y is not used).
  const clusterer = scoring && isClusterer(version);
  let inertia = 0;
  const runnable = await runnableOutput(deps, version, clusterer ? "scores" : pickOutput(scoring ? JobKind.PREDICT : job.kind, version.signature?.outputs ?? []));
  const { output: outputName, signature, classes } = runnable;
  // A SCORE asked for roc_auc or log_loss reads the probabilities too, in the same runs (of the graph that gives them).
  const wanted = scoring ? wantedMetrics(job.params ?? {}) : undefined;
  const proba = scoring && !clusterer && isClassifier(version) && needsProbabilities(wanted) ? await runnableOutput(deps, version, pickOutput(JobKind.PREDICT_PROBA, version.signature?.outputs ?? [])) : undefined;
  const { file, key } = proba ?? runnable;
  const fetched = proba ? [outputName, proba.output] : [outputName];
  const probabilities: Float64Array[] = [];
  const rowsTotal = x.filter ? 0 : Number(data.rowCount);
  const predictions: (number | string)[] = [];
  const results = scoring ? undefined : new ResultRows(ctx, rowsTotal);
  const keep = job.keepColumns;
  // SCORE against a target of X's own rows (`--target`): read with the features, in the same pass.
  const target = scoring && !clusterer && job.y?.dataset && sameRows(x, job.y) ? (job.y.columns[0] ?? columns[0]?.name) : undefined;
  const extra = target ? [...keep, target] : keep;
  // Kept columns and the target ride along with the features, in stored order: all of them in it reads whole chunks.
  const used = extra.length ? columns.map((c) => c.name).filter((n) => plan.columns.includes(n) || extra.includes(n)) : plan.columns;
  const truth: (number | string)[] = [];
  let scored = 0;
  // Later batches run in the model while batch n's results are published: one publish in flight, in order.
  let emitting: Promise<void> = Promise.resolve();
  try {
    const refusesMissing = refusesMissingValues(version);
    const model = String(version.metadata.estimator ?? "the model");
    let rowsRead = 0;
    const runs = prefetchInOrder(
      sliceChunks(readJobRows(deps, x, used, columns, schema), BATCH_ROWS, FIRST_BATCH_ROWS),
      async ({ batch, release }) => {
        checkStopped(ctx.signal);
        const kept = keep.length && !scoring ? copyColumns(batch, keep) : undefined;
        const targets = target ? columnValues(batch, target) : undefined;
        const firstRow = rowsRead;
        rowsRead += batch.numRows;
        let feeds: OnnxFeeds;
        try {
          // Nulls are looked for here (Arrow counts them), NaN and ±Infinity where the matrix is laid out, mostly in an ONNX worker.
          if (refusesMissing && (!plan.checksFinite || hasNulls(batch, plan.columns))) checkNoMissingValues(batch, plan.columns, firstRow, model);
          feeds = plan.feeds(batch, feedBuffers, refusesMissing);
        } catch (e) {
          release();
          throw nonFiniteFailure(e, plan.columns, firstRow, model);
        }
        // Feeds that copied the rows free the chunk's memory for a later chunk now; columns the worker reads, once it has.
        const readsBatch = Object.values(feeds).some(isColumnsFeed);
        if (!readsBatch) release();
        try {
          return { rows: batch.numRows, kept, targets, outputs: await runOnnx(deps, file, key, feeds, fetched) };
        } catch (e) {
          throw nonFiniteFailure(e, plan.columns, firstRow, model);
        } finally {
          feedBuffers.give(feeds);
          if (readsBatch) release();
        }
      },
      RUNS_IN_FLIGHT,
    );
    for await (const { rows: batchRows, kept, targets, outputs } of runs) {
      checkStopped(ctx.signal);
      const tensor = outputs[outputName]!;
      if (scoring) {
        if (clusterer) inertia += inertiaOf(tensor);
        else for (const v of predictionValues(tensor)) predictions.push(v);
        if (proba) probabilities.push(Float64Array.from(outputs[proba.output]!.data as Float32Array));
        if (targets) for (const v of targets) truth.push(v);
        scored += batchRows;
        ctx.progress.update({ rowsDone: BigInt(scored), rowsTotal: BigInt(rowsTotal) });
        continue;
      }
      await emitting;
      emitting = results!.emit(withKept(kept, outputTable(job.kind, tensor, classes)), batchRows);
      emitting.catch(() => {}); // awaited before the next batch or after the loop
    }
    await emitting;
    if (rowsRead === 0 && !scoring) {
      // No rows (an empty dataset, a filter that matched none): the results still have their columns.
      const none = new RecordBatch(schema.select(plan.columns), undefined);
      const run = async () => (await runOnnx(deps, file, key, plan.feeds(none), [outputName]))[outputName]!;
      // In keep's order, as copyColumns gives them (Schema.select keeps the stored order).
      const kept = keep.length ? new Table(new Schema(keep.map((name) => schema.fields.find((f) => f.name === name)!))) : undefined;
      await results!.emit(withKept(kept, outputTable(job.kind, await noRowsOutput(run, signature), classes)), 0);
    }
    await results?.end();
  } catch (e) {
    results?.fail(e);
    throw e;
  }
  if (scoring && scored === 0) throw failedPrecondition("NO_ROWS", `${inputName(x, "x", true)} has no rows to score`);
  const result = create(JobResultSchema, { rows: BigInt(scoring ? scored : results!.rows), ranModelVersion: version.name });
  if (results?.written) result.output = await results.written;
  if (scoring) {
    // The classes runnableOutput found (recorded, or ZipMap's); none known, score-metrics takes the labels seen, sorted.
    const probs = proba && { data: joined(probabilities), classes: proba.classes ?? [] };
    result.metrics = clusterer ? { score: -inertia, inertia } : await scoreAgainst(ctx, predictions, version, wanted, target ? { target, truth } : undefined, probs);
  }
  return result;
}

/**
 * The columns a model takes from a table: the ones it learned from, by name. A model that
 * learned from positional data (x0, x1, … from a tensor or rows of numbers) takes a table
 * without those names column by column in order, as sklearn does.
 */
export function featuresFor(version: ModelVersionInfo, table: ColumnInfo[]): string[] | undefined {
  const learned = featuresOf(version);
  const positional = learned?.every((name, i) => name === `x${i}`);
  if (positional && !learned!.every((name) => table.some((c) => c.name === name))) return undefined;
  return learned;
}

/** The columns a Kiln-trained model learned from (recorded at fit), if known. */
export function featuresOf(version: ModelVersionInfo): string[] | undefined {
  return featuresIn(version.metadata);
}

/** A Kiln transformer (a scaler, PCA, an encoder, a Pipeline ending in one), as its metadata says; other models are let through. */
export function transformsOnly(version: ModelVersionInfo): boolean {
  return version.metadata[PREDICTS] === false;
}

/**
 * A model's output on no rows: its own (so the columns are exactly those of its results), or,
 * for a graph that fails on an empty batch, an empty tensor shaped by its signature.
 */
async function noRowsOutput(run: () => Promise<OnnxTensorData>, signature: TensorSignature | undefined): Promise<OnnxTensorData> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof OnnxRunError)) throw e;
    const width = typeof signature?.shape?.[1] === "number" ? signature.shape[1] : 1;
    // outputTable reads only the dims and the data's kind (typed array or strings).
    return { type: signature?.elementType, dims: [0, width], data: EMPTY_DATA[signature?.elementType ?? ""]?.() ?? new Float32Array(0) } as OnnxTensorData;
  }
}

const EMPTY_DATA: Record<string, () => OnnxTensorData["data"]> = {
  float32: () => new Float32Array(0),
  float64: () => new Float64Array(0),
  int32: () => new Int32Array(0),
  int64: () => new BigInt64Array(0),
  bool: () => new Uint8Array(0),
  string: () => [],
};

async function targetOf(ctx: JobContext, y: JobInput): Promise<string> {
  const { columns } = await describeInput(ctx.deps, y, "y");
  const target = y.columns[0] ?? columns[0]?.name;
  if (!target) throw failedPrecondition("NO_TARGET", `${inputName(y, "y")} has no columns`);
  return target;
}

/** Metrics of the predictions against Y's target (read here, unless it came with X's rows: `read`): those asked for, or the defaults. */
async function scoreAgainst(
  ctx: JobContext,
  predictions: (number | string)[],
  version: ModelVersionInfo,
  wanted: WantedMetrics,
  read?: { target: string; truth: (number | string)[] },
  probabilities?: Probabilities,
): Promise<Record<string, number>> {
  const classifier = isClassifier(version);
  const y = ctx.job.y!;
  const target = read?.target ?? (await targetOf(ctx, y));
  const truth = read?.truth ?? (await readValues(ctx.deps, y, target));
  if (truth.length !== predictions.length) {
    throw failedPrecondition("LENGTH_MISMATCH", `x has ${predictions.length} rows and y has ${truth.length}`);
  }
  if (classifier) {
    const [truthType, predictedType] = [labelType(truth), labelType(predictions)];
    if (truthType !== predictedType) {
      const classes = Array.isArray(version.metadata.classes) ? ` (its classes: ${(version.metadata.classes as unknown[]).map((c) => JSON.stringify(c)).join(", ")})` : "";
      throw failedPrecondition("LABEL_TYPE_MISMATCH", `column "${target}" of ${inputName(y, "y")} holds ${truthType} and the model predicts ${predictedType}${classes}: score against labels of the model's classes`);
    }
    return classifierMetrics(wanted, truth, predictions, probabilities);
  }
  return regressorMetrics(wanted, truth.map(Number), predictions.map(Number));
}

function joined(parts: Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
