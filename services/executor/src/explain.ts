import { create } from "@bufbuild/protobuf";
import { Table, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { schemaFromIpc } from "@kiln/data";
import type { OnnxTensorData } from "@kiln/onnx";
import { MAX_EXACT_FEATURES, ShapleyExplainer, type BatchModel } from "@kiln/ml";
import { ExplainedOutputSchema, FeatureImportanceSchema, JobExplanationSchema, JobKind, JobResultSchema, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersionInfo } from "@kiln/sdk";
import { isClassifier, isClusterer } from "@kiln/contracts";
import { sampleBackground } from "./background.js";
import { describeInput, readJobRows, sliceChunks } from "./data.js";
import { featureRows, matrixInput, type MatrixInput } from "./feature-matrix.js";
import { featuresFor, RUNS_IN_FLIGHT, transformsOnly } from "./inference.js";
import { checkStopped, type JobContext } from "./job-context.js";
import { failedPrecondition } from "./job-failure.js";
import { checkNoMissingValues, refusesMissingValues } from "./missing-values.js";
import { runOnnx } from "./onnx-run.js";
import { copyColumns, pickOutput, withKept } from "./outputs.js";
import { ResultRows } from "./result-rows.js";
import { runnableOutput, type RunnableOutput } from "./runnable-output.js";

/** Model rows asked for each slice of X at most: a slice's rows times each row's coalitions times the background. */
const MODEL_ROWS_PER_SLICE = 1 << 19;
/** Rows of X in a slice at most, so results stream back steadily for a cheap explanation too. */
const MAX_SLICE_ROWS = 4096;
/** Rows in one model call at most. */
const MODEL_ROWS_PER_CALL = 65_536;

interface ExplainParams {
  backgroundRows: number;
  method: "auto" | "exact" | "permutation";
  permutations: number;
  randomState: number;
  class?: string | number;
}

/**
 * EXPLAIN: Shapley values of X's rows against background rows (see ShapleyExplainer), a
 * slice of rows at a time, each slice's rows streamed back as they are explained.
 */
export async function runExplain(ctx: JobContext): Promise<JobResult> {
  const { deps, job } = ctx;
  const params = explainParams(job.params ?? {});
  const version = await ctx.model();
  if (transformsOnly(version) || isClusterer(version)) {
    throw failedPrecondition("NOT_EXPLAINABLE", `${version.name} (${String(version.metadata.estimator ?? "a model")}) predicts no number or class to explain: EXPLAIN takes regressors and classifiers`);
  }
  const x = job.x!;
  const { version: data, columns } = await describeInput(deps, x, "x");
  const input = matrixInput(version, columns, x.columns.length ? x.columns : featuresFor(version, columns), "NOT_EXPLAINABLE", "EXPLAIN mixes rows' features");
  const classifier = isClassifier(version);
  const runnable = await runnableOutput(deps, version, pickOutput(classifier ? JobKind.PREDICT_PROBA : JobKind.PREDICT, version.signature?.outputs ?? []));
  const refusesMissing = refusesMissingValues(version);
  if (params.method === "exact" && input.features.length > MAX_EXACT_FEATURES) {
    throw failedPrecondition("TOO_MANY_FEATURES", `exact Shapley values take at most ${MAX_EXACT_FEATURES} features (2^${MAX_EXACT_FEATURES} coalitions a row) and ${version.name} has ${input.features.length}: use method "permutation"`);
  }

  ctx.progress.update({ message: "sampling the background" });
  const background = await sampleBackground(ctx, version, input, params.backgroundRows, params.randomState);
  if (refusesMissing) checkFinite(background.matrix, input.features, "the background");
  const explainer = new ShapleyExplainer(modelOf(ctx, input, runnable), background.matrix, input.features.length, {
    method: params.method,
    permutations: params.permutations,
    randomState: params.randomState,
    maxBatchRows: MODEL_ROWS_PER_CALL,
    concurrency: RUNS_IN_FLIGHT,
    allocate: (length) => sharedRows(input.type, length),
  });
  const base = await explainer.base();
  const labels = classifier ? classLabels(runnable, base.length) : ["prediction"];
  if (params.class !== undefined && !classifier) throw failedPrecondition("NOT_A_CLASSIFIER", `params.class: ${version.name} predicts numbers, not classes`);
  const fixed = params.class === undefined ? undefined : classIndex(labels, params.class, version);
  const summary = new Importance(input.features, labels, base);

  ctx.progress.update({ message: "explaining" });
  const results = new ResultRows(ctx, x.filter ? 0 : Number(data.rowCount));
  const keep = job.keepColumns;
  const sliceRows = Math.max(1, Math.min(MAX_SLICE_ROWS, Math.floor(MODEL_ROWS_PER_SLICE / explainer.rowsPerExplainedRow)));
  const schema = schemaFromIpc(data.arrowSchema);
  const used = keep.length ? columns.map((c) => c.name).filter((n) => input.features.includes(n) || keep.includes(n)) : input.features;
  try {
    for await (const { batch, release } of sliceChunks(readJobRows(deps, x, used, columns, schema), sliceRows)) {
      let rows: Float64Array;
      let kept: Table | undefined;
      try {
        checkStopped(ctx.signal);
        if (refusesMissing) checkNoMissingValues(batch, input.features, results.rows, String(version.metadata.estimator ?? "the model"));
        rows = featureRows(input, batch);
        kept = keep.length ? copyColumns(batch, keep) : undefined;
      } finally {
        release();
      }
      const n = batch.numRows;
      const { values, outputs } = await explainer.explain(rows, n, results.rows);
      checkStopped(ctx.signal);
      const explained = Int32Array.from({ length: n }, (_, i) => fixed ?? (classifier ? argmax(outputs.subarray(i * base.length, (i + 1) * base.length)) : 0));
      summary.add(values, explained);
      await results.emit(withKept(kept, rowsTable(input.features, labels, classifier, base, values, outputs, explained)), n);
    }
    if (results.rows === 0) await results.emit(rowsTable(input.features, labels, classifier, base, new Float64Array(0), new Float64Array(0), new Int32Array(0)), 0);
    await results.end();
  } catch (e) {
    results.fail(e);
    throw e;
  }
  const explanation = create(JobExplanationSchema, {
    method: explainer.method,
    permutations: explainer.method === "permutation" ? params.permutations : 0,
    background: background.selection,
    backgroundRows: BigInt(background.rows),
    outputs: summary.outputs(classifier ? fixed : 0),
  });
  const result = create(JobResultSchema, { rows: BigInt(results.rows), ranModelVersion: version.name, explanation, metrics: summary.metrics() });
  if (results.written) result.output = await results.written;
  return result;
}

/** The model in the worker pool as the explainer asks it: float64 rows in, its outputs as float64 out. */
function modelOf(ctx: JobContext, input: MatrixInput, runnable: RunnableOutput): BatchModel {
  return async (rows, count) => {
    const width = input.features.length;
    // In shared memory, the rows cross to the ONNX worker without another copy.
    const inPlace = rows.buffer instanceof SharedArrayBuffer && (input.type === "float32" ? rows instanceof Float32Array : rows instanceof Float64Array);
    const data = inPlace ? rows : sharedRows(input.type, rows.length);
    if (!inPlace) data.set(rows);
    const feed = { type: input.type, dims: [count, width], data } as OnnxTensorData;
    const out = (await runOnnx(ctx.deps, runnable.file, runnable.key, { [input.name]: feed }, [runnable.output]))[runnable.output]!;
    if (Array.isArray(out.data) || out.data instanceof BigInt64Array || out.data instanceof BigUint64Array) {
      throw failedPrecondition("NOT_EXPLAINABLE", `the model's output "${runnable.output}" is ${out.type}, not numbers to explain`);
    }
    return out.data instanceof Float64Array ? out.data : Float64Array.from(out.data as ArrayLike<number>);
  };
}

function sharedRows(type: MatrixInput["type"], length: number): Float32Array | Float64Array {
  return type === "float32" ? new Float32Array(new SharedArrayBuffer(length * 4)) : new Float64Array(new SharedArrayBuffer(length * 8));
}

/** A classifier's outputs are its classes' probabilities, named by its labels (else by position). */
function classLabels(runnable: RunnableOutput, width: number): string[] {
  const classes = runnable.classes?.length === width ? runnable.classes : undefined;
  return Array.from({ length: width }, (_, j) => String(classes?.[j] ?? j));
}

function classIndex(labels: string[], wanted: string | number, version: ModelVersionInfo): number {
  const at = labels.indexOf(String(wanted));
  if (at < 0) throw failedPrecondition("UNKNOWN_CLASS", `params.class: ${version.name} has no class ${JSON.stringify(wanted)} (its classes: ${labels.join(", ")})`);
  return at;
}

function argmax(values: Float64Array): number {
  let best = 0;
  for (let j = 1; j < values.length; j++) if (values[j]! > values[best]!) best = j;
  return best;
}

function checkFinite(matrix: Float64Array, features: string[], what: string): void {
  const at = matrix.findIndex((v) => !Number.isFinite(v));
  if (at < 0) return;
  throw failedPrecondition("NON_FINITE_INPUT", `${what} has ${matrix[at]} in column "${features[at % features.length]}": the model takes no missing values; name a background without them`);
}

/**
 * A slice's result rows: the explained output (a regressor's `prediction`; a classifier's
 * `class` and its `probability`), `base_value`, then `shap_<feature>` for each feature.
 */
function rowsTable(features: string[], labels: string[], classifier: boolean, base: Float64Array, values: Float64Array, outputs: Float64Array, explained: Int32Array): Table {
  const n = explained.length;
  const k = base.length;
  const m = features.length;
  const pick = (f: (i: number, o: number) => number) => {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = f(i, explained[i]!);
    return makeVector(out);
  };
  const columns: Record<string, Vector> = {};
  if (classifier) {
    const numeric = labels.every((l) => l !== "" && Number.isFinite(Number(l)));
    const named = Array.from(explained, (o) => labels[o]!);
    columns.class = numeric ? makeVector(Float64Array.from(named, Number)) : vectorFromArray(named);
    columns.probability = pick((i, o) => outputs[i * k + o]!);
  } else {
    columns.prediction = pick((i, o) => outputs[i * k + o]!);
  }
  columns.base_value = pick((_, o) => base[o]!);
  features.forEach((feature, j) => (columns[`shap_${feature}`] = pick((i, o) => values[(i * m + j) * k + o]!)));
  return new Table(columns);
}

/** Each explained output's rows, and Σ|φ| and Σφ of each feature over them. */
class Importance {
  private readonly rows: number[];
  private readonly sumAbs: Float64Array[];
  private readonly sum: Float64Array[];

  constructor(
    private readonly features: string[],
    private readonly labels: string[],
    private readonly base: Float64Array,
  ) {
    this.rows = labels.map(() => 0);
    this.sumAbs = labels.map(() => new Float64Array(features.length));
    this.sum = labels.map(() => new Float64Array(features.length));
  }

  add(values: Float64Array, explained: Int32Array): void {
    const m = this.features.length;
    const k = this.labels.length;
    explained.forEach((o, i) => {
      this.rows[o]!++;
      for (let j = 0; j < m; j++) {
        const v = values[(i * m + j) * k + o]!;
        this.sumAbs[o]![j]! += Math.abs(v);
        this.sum[o]![j]! += v;
      }
    });
  }

  /** Every output some row was explained by, and `always` (the one every row is, if so) even without rows. */
  outputs(always: number | undefined) {
    return this.labels
      .map((label, o) => ({ label, o }))
      .filter(({ o }) => this.rows[o]! > 0 || o === always)
      .map(({ label, o }) =>
        create(ExplainedOutputSchema, {
          output: label,
          baseValue: this.base[o]!,
          rows: BigInt(this.rows[o]!),
          features: this.features
            .map((feature, j) => create(FeatureImportanceSchema, { feature, meanAbs: this.mean(this.sumAbs[o]![j]!, o), mean: this.mean(this.sum[o]![j]!, o) }))
            .sort((a, b) => b.meanAbs - a.meanAbs),
        }),
      );
  }

  /** importance.<feature>: mean |φ| over every row, each row's own explained output. */
  metrics(): Record<string, number> {
    const total = this.rows.reduce((a, b) => a + b, 0);
    return Object.fromEntries(this.features.map((feature, j) => [`importance.${feature}`, total ? this.sumAbs.reduce((s, per) => s + per[j]!, 0) / total : 0]));
  }

  private mean(sum: number, o: number): number {
    return this.rows[o] ? sum / this.rows[o]! : 0;
  }
}

/** As the scheduler checked them at submit. */
function explainParams(params: Record<string, unknown>): ExplainParams {
  return {
    backgroundRows: Number(params.background_rows ?? 100),
    method: (params.method as ExplainParams["method"] | undefined) ?? "auto",
    permutations: Number(params.permutations ?? 10),
    randomState: Number(params.random_state ?? 0),
    class: params.class as string | number | undefined,
  };
}
