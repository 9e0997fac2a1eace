import { Code } from "@connectrpc/connect";
import { featuresIn, trainingDataOf, type TrainingData } from "@kiln/contracts";
import type { DatasetRef, DatasetSpec } from "./dataset-refs.js";
import type { Datasets } from "./datasets.js";
import type { DriftOptions, DriftReport } from "./drift.js";
import { FailedPreconditionError, NotFoundError } from "./errors.js";
import type { ModelVersionInfo } from "./model-summaries.js";
import type { Runtime } from "./runtime.js";

/** A model's drift: new data compared with what the version was trained on, on the features it learned. */
export interface ModelDriftReport extends DriftReport {
  /** The version compared, e.g. "projects/default/models/churn/versions/4". */
  modelVersion: string;
}

export interface ModelDriftDeps {
  datasets: Datasets;
  runtime: Runtime;
}

export async function modelDrift(deps: ModelDriftDeps, version: ModelVersionInfo, data: DatasetRef, options: DriftOptions): Promise<ModelDriftReport> {
  const baseline = await trainingBaseline(deps.runtime, version);
  const report = await deps.datasets.drift(baseline, data, options);
  return { ...report, newColumns: baseline.columns?.length ? [] : report.newColumns, modelVersion: version.name };
}

/**
 * What a version's drift is measured against: the stored X its fit read, on the features it
 * learned (the features alone, so the data's other columns, ids or the label, are not new
 * features). FailedPreconditionError NO_TRAINING_DATA when it records none.
 */
export async function trainingBaseline(runtime: Runtime, version: ModelVersionInfo): Promise<DatasetSpec> {
  const training = trainingDataOf(version.metadata) ?? (await trainingDataOfJob(runtime, version));
  if (!training) {
    throw new FailedPreconditionError(
      `${version.model}:${version.version} records no stored training data (it was uploaded, defined, or fitted on local data, which is not kept): compare datasets with datasets.drift instead`,
      Code.FailedPrecondition,
      "NO_TRAINING_DATA",
      { model: version.name },
    );
  }
  return { dataset: training.dataset, version: training.version, filter: training.filter, columns: featuresIn(version.metadata) ?? [] };
}

/** Versions fitted before their metadata named their data: the X input of the job that trained them, while it is kept. */
async function trainingDataOfJob(runtime: Runtime, version: ModelVersionInfo): Promise<TrainingData | undefined> {
  const job = version.lineage?.trainingJob;
  if (!job) return undefined;
  const info = await runtime
    .job(job)
    .info()
    .catch((e: unknown) => {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    });
  const x = info?.x;
  return x && !x.temporary ? { dataset: x.dataset, version: x.version, filter: x.filter } : undefined;
}
