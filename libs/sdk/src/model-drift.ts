import { Code } from "@connectrpc/connect";
import { featuresIn, trainingDataOf, type TrainingData } from "@kiln/contracts";
import type { DatasetRef } from "./dataset-refs.js";
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
  const training = trainingDataOf(version.metadata) ?? (await trainingDataOfJob(deps.runtime, version));
  const label = `${version.model}:${version.version}`;
  if (!training) {
    throw new FailedPreconditionError(
      `${label} records no stored training data (it was uploaded, defined, or fitted on local data, which is not kept): compare datasets with datasets.drift instead`,
      Code.FailedPrecondition,
      "NO_TRAINING_DATA",
      { model: version.name },
    );
  }
  const features = featuresIn(version.metadata) ?? [];
  // The baseline is the features alone, so only they are compared; the data's other columns (ids, the label) are not new features.
  const report = await deps.datasets.drift({ dataset: training.dataset, version: training.version, filter: training.filter, columns: features }, data, options);
  return { ...report, newColumns: features.length ? [] : report.newColumns, modelVersion: version.name };
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
