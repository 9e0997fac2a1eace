import { create } from "@bufbuild/protobuf";
import { JobDriftSchema, JobResultSchema, type JobResult } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { CompareDatasetsResponse } from "@kiln/proto/kiln/store/v1/store_pb";
import { datasetSelection, driftMetrics, trainingBaseline } from "@kiln/sdk";
import { REQUEST_LOG_LABEL } from "@kiln/contracts";
import { checkStopped, type JobContext } from "./job-context.js";
import { failedPrecondition } from "./job-failure.js";

/** Columns named in a DATA_DRIFT failure's message before "and N more". */
const NAMED_COLUMNS = 10;

/**
 * DRIFT: X, on the features the version learned, compared by the store with the data the
 * version was trained on. `fail_on_drift` makes drift a failure (not retried), so a
 * scheduled check that finds it is a failed job.
 */
export async function runDrift(ctx: JobContext): Promise<JobResult> {
  const { job, deps } = ctx;
  const params = driftParams(job.params ?? {});
  const version = await ctx.model();
  ctx.progress.update({ message: "profiling" });
  const baseline = await trainingBaseline(deps.kiln.runtime, version);
  checkStopped(ctx.signal);
  const project = job.name.slice(0, job.name.indexOf("/jobs/"));
  const x = job.x!;
  const res = await deps.store.compareDatasets(
    {
      baseline: datasetSelection(project, baseline),
      target: { name: x.dataset, version: x.version, columns: await targetColumns(ctx, baseline.columns ?? []), filter: await ownRows(ctx, version.version) },
      psiThreshold: params.psiThreshold,
      pValueThreshold: params.pValueThreshold,
    },
    { signal: ctx.signal },
  );
  checkStopped(ctx.signal);
  const drift = jobDrift(res);
  if (params.failOnDrift && drift.drifted) throw failedPrecondition("DATA_DRIFT", driftMessage(drift, version.name));
  return create(JobResultSchema, { metrics: driftMetrics(drift), drift, ranModelVersion: version.name });
}

/**
 * X's columns to profile: the features it has, as the baseline holds only those (a feature
 * it lacks is then a missing column, and its ids or label are not profiled); all it names
 * when the version records no features.
 */
async function targetColumns(ctx: JobContext, features: string[]): Promise<string[]> {
  const x = ctx.job.x!;
  if (!features.length) return x.columns;
  const { version } = await ctx.deps.store.getDatasetVersion({ name: `${x.dataset}/versions/${x.version}` }, { signal: ctx.signal });
  const has = new Set(x.columns.length ? x.columns : version!.fields.map((f) => f.name));
  return features.filter((f) => has.has(f));
}

/**
 * X's filter; on a deployment's request log, also only the rows this version answered (as
 * deployments.drift reads them), since the others' are another model's data.
 */
async function ownRows(ctx: JobContext, version: number): Promise<string> {
  const x = ctx.job.x!;
  const { dataset } = await ctx.deps.store.getDataset({ name: x.dataset }, { signal: ctx.signal });
  if (dataset?.labels[REQUEST_LOG_LABEL] !== "true") return x.filter;
  const own = `model_version = ${version}`;
  return x.filter ? `(${x.filter}) AND ${own}` : own;
}

function jobDrift(res: CompareDatasetsResponse) {
  const baseline = res.baseline!;
  const target = res.target!;
  return create(JobDriftSchema, {
    baseline: baseline.selection,
    target: target.selection,
    baselineRows: baseline.rows,
    targetRows: target.rows,
    columns: res.columns,
    missingColumns: res.missingColumns,
    driftedCount: res.driftedCount,
    drifted: res.drifted,
  });
}

/** "drift in 2 of 5 features of projects/p/models/churn/versions/3: age (PSI 0.70), income (PSI 0.31)". */
function driftMessage(drift: ReturnType<typeof jobDrift>, model: string): string {
  const named = [
    ...drift.columns.filter((c) => c.drifted).map((c) => `${c.column} (${c.note || `PSI ${c.psi.toPrecision(3)}${c.test ? `, ${c.test} p ${c.pValue.toPrecision(2)}` : ""}`})`),
    ...drift.missingColumns.map((c) => `${c} (missing)`),
  ];
  const shown = named.slice(0, NAMED_COLUMNS).join(", ") + (named.length > NAMED_COLUMNS ? `, and ${named.length - NAMED_COLUMNS} more` : "");
  return `drift in ${named.length} of ${drift.columns.length + drift.missingColumns.length} features of ${model}: ${shown}`;
}

/** As the scheduler checked them at submit; 0 takes the store's default. */
function driftParams(params: Record<string, unknown>) {
  return { psiThreshold: Number(params.psi_threshold ?? 0), pValueThreshold: Number(params.p_value_threshold ?? 0), failOnDrift: params.fail_on_drift === true };
}
