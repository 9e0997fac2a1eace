/** The file format of an untrained estimator definition (kiln.models.create). */
export const TRAINABLE_FORMAT = "kiln-ml";
/** The attachment holding a trained Kiln model's kiln.ml state, which a FIT or PARTIAL_FIT continues from. */
export const TRAINABLE_ATTACHMENT = "kiln-ml.json";
/** The metadata key saying whether a Kiln model takes NaN as missing (an imputer first); the runtime refuses missing values where it is false. */
export const TAKES_MISSING_VALUES = "takes_missing_values";
/** The metadata key saying whether a Kiln model predicts; PREDICT and SCORE refuse one where it is false (a transformer). */
export const PREDICTS = "predicts";
/** The metadata key where a Kiln model lists the columns of X it learned from, in order. */
export const FEATURES = "features";

export function featuresIn(metadata: Record<string, unknown>): string[] | undefined {
  const f = metadata[FEATURES];
  return Array.isArray(f) && f.every((c) => typeof c === "string") ? (f as string[]) : undefined;
}

/**
 * The metadata key where a fit's version records the stored X it learned from, as
 * `{ dataset, version, filter }` (its columns are the version's `features`): the baseline
 * its drift is measured against. Absent when X was local data, which is not kept.
 */
export const TRAINING_DATA = "training_data";

export interface TrainingData {
  dataset: string;
  version: number;
  filter: string;
}

/** A version's training data, if its metadata records it. */
export function trainingDataOf(metadata: Record<string, unknown>): TrainingData | undefined {
  const v = metadata[TRAINING_DATA] as Partial<TrainingData> | undefined;
  if (typeof v !== "object" || v === null || typeof v.dataset !== "string" || typeof v.version !== "number") return undefined;
  return { dataset: v.dataset, version: v.version, filter: typeof v.filter === "string" ? v.filter : "" };
}

/** The label on the datasets a deployment's request log writes, so a sweep drops only those when their days are past. */
export const REQUEST_LOG_LABEL = "kiln.request_log";

/**
 * The label on a dataset a client made from a job's local data (the SDK's `tmp-…` inputs).
 * Only such a dataset may be marked temporary, since the scheduler deletes it after the job.
 */
export const TEMPORARY_INPUT_LABEL = "kiln.temporary";

type WithOutputs = { signature?: { outputs: readonly { name: string }[] } };

/** A model with a probability output (sklearn-onnx's "probabilities", "output_probability"). */
export function isClassifier(version: WithOutputs): boolean {
  return (version.signature?.outputs ?? []).some((o) => /prob/i.test(o.name));
}

/** Cluster labels and distances to the centers, as sklearn-onnx names a KMeans' outputs (and no probabilities). */
export function isClusterer(version: WithOutputs): boolean {
  const names = (version.signature?.outputs ?? []).map((o) => o.name);
  return names.includes("label") && names.includes("scores") && !isClassifier(version);
}

/**
 * The comment on the output dataset version a job writes: how the scheduler tells that the
 * version is still the one that job wrote (a dataset dropped and made again restarts its
 * numbers) before reusing its results.
 */
export function jobOutputComment(job: string): string {
  return `results of job ${job}`;
}
