import type { Estimator, TrainingCallback } from "./estimator.js";
import { MLError } from "./errors.js";

type Factory = (params: Record<string, unknown>, onEpoch?: TrainingCallback) => Estimator;
const factories = new Map<string, Factory>();

/** Each estimator module registers how to make its kind from params (for workers and the runtime). */
export function registerEstimator(kind: string, factory: Factory): void {
  factories.set(kind, factory);
}

/** A new, unfitted estimator of a kind by name, e.g. createEstimator("Ridge", { alpha: 0.5 }). */
export function createEstimator(kind: string, params: Record<string, unknown> = {}, onEpoch?: TrainingCallback): Estimator {
  const make = factories.get(kind);
  if (!make) throw new MLError(`unknown estimator "${kind}"; known: ${[...factories.keys()].sort().join(", ")}`, "UNKNOWN_ESTIMATOR");
  return make(params, onEpoch);
}

export function estimatorKinds(): string[] {
  return [...factories.keys()].sort();
}
