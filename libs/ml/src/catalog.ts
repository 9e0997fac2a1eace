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
  const make = factories.get(canonicalKind(kind));
  if (!make) throw new MLError(`unknown estimator "${kind}"; known: ${[...factories.keys()].sort().join(", ")}`, "UNKNOWN_ESTIMATOR");
  return make(params, onEpoch);
}

/** Whether a name means a registered kind (in any of the spellings canonicalKind takes). */
export function isEstimatorKind(name: string): boolean {
  return factories.has(canonicalKind(name));
}

export function estimatorKinds(): string[] {
  return [...factories.keys()].sort();
}

/** The registered kind a name means: "logistic_regression", "logisticregression" and "LogisticRegression" all work. */
export function canonicalKind(name: string): string {
  if (factories.has(name)) return name;
  const squash = (s: string) => s.toLowerCase().replace(/[_\-\s]/g, "");
  return [...factories.keys()].find((k) => squash(k) === squash(name)) ?? name;
}
