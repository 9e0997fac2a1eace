import { create } from "@bufbuild/protobuf";
import type { Table } from "apache-arrow";
import { schemaFromIpc } from "@kiln/data";
import { ExplainedOutputSchema, FeatureImportanceSchema, JobExplanationSchema, JobResultSchema, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { sampleBackground, trainingData } from "./background.js";
import { describeInput, readJobRows, sliceChunks } from "./data.js";
import { featureRows, matrixInput } from "./feature-matrix.js";
import { featuresFor } from "./inference.js";
import { checkStopped, type JobContext } from "./job-context.js";
import { checkNoMissingValues, refusesMissingValues } from "./missing-values.js";
import { checkExplainable, explainParams, ModelExplainer } from "./model-explainer.js";
import { copyColumns, withKept } from "./outputs.js";
import { ResultRows } from "./result-rows.js";

/** Model rows asked for each slice of X at most: a slice's rows times each row's coalitions times the background. */
const MODEL_ROWS_PER_SLICE = 1 << 19;
/** Rows of X in a slice at most, so results stream back steadily for a cheap explanation too. */
const MAX_SLICE_ROWS = 4096;

/**
 * EXPLAIN: Shapley values of X's rows against background rows (see ShapleyExplainer), a
 * slice of rows at a time, each slice's rows streamed back as they are explained.
 */
export async function runExplain(ctx: JobContext): Promise<JobResult> {
  const { deps, job } = ctx;
  const params = explainParams(job.params ?? {});
  const version = await ctx.model();
  checkExplainable(version);
  const x = job.x!;
  const { version: data, columns } = await describeInput(deps, x, "x");
  const input = matrixInput(version, columns, x.columns.length ? x.columns : featuresFor(version, columns), "NOT_EXPLAINABLE", "EXPLAIN mixes rows' features");
  const refusesMissing = refusesMissingValues(version);

  ctx.progress.update({ message: "sampling the background" });
  const source = job.y ?? (await trainingData(deps, job.name.slice(0, job.name.indexOf("/jobs/")), version));
  const background = await sampleBackground(deps, source, version, input.features, params.backgroundRows, params.randomState, ctx.signal);
  const model = await ModelExplainer.create(deps, version, input, background.matrix, params, ctx.signal);
  const explainer = model.explainer;
  const summary = new Importance(input.features, model.labels, model.base);

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
      const { table, values, explained } = await model.explain(rows, n, results.rows);
      checkStopped(ctx.signal);
      summary.add(values, explained);
      await results.emit(withKept(kept, table), n);
    }
    if (results.rows === 0) await results.emit((await model.explain(new Float64Array(0), 0)).table, 0);
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
    outputs: summary.outputs(model.classifier ? model.fixed : 0),
    outputSpace: model.space,
  });
  const result = create(JobResultSchema, { rows: BigInt(results.rows), ranModelVersion: version.name, explanation, metrics: summary.metrics() });
  if (results.written) result.output = await results.written;
  return result;
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

