import { InvalidInputError } from "../errors.js";
import type { Random } from "../random.js";
import type { GrowOptions } from "./grow.js";

/**
 * sklearn's max_features: a count, a fraction of the features, "sqrt", "log2", or null for all.
 * JavaScript cannot tell 1 from 1.0, so 1 means every feature (sklearn's 1.0, the forest
 * regressor's default); counts start at 2.
 */
export type MaxFeatures = number | "sqrt" | "log2" | null;

export function featuresPerNode(maxFeatures: MaxFeatures, nFeatures: number, kind: string): number {
  if (maxFeatures === null) return nFeatures;
  if (maxFeatures === "sqrt") return Math.max(1, Math.floor(Math.sqrt(nFeatures)));
  if (maxFeatures === "log2") return Math.max(1, Math.floor(Math.log2(nFeatures)));
  if (typeof maxFeatures === "number" && maxFeatures > 0) {
    if (Number.isInteger(maxFeatures) && maxFeatures > 1) return Math.min(nFeatures, maxFeatures);
    if (maxFeatures <= 1) return Math.max(1, Math.floor(maxFeatures * nFeatures));
  }
  throw new InvalidInputError(`${kind}: maxFeatures must be a positive count, a fraction in (0, 1], "sqrt", "log2" or null, got ${JSON.stringify(maxFeatures)}`, "BAD_PARAMETER");
}

/** sklearn's min_samples_split / min_samples_leaf: a count, or a fraction of the rows below 1. */
export function rowCount(value: number, rows: number, name: string, kind: string, least: number): number {
  const count = value < 1 ? Math.ceil(value * rows) : value;
  if (!(value > 0) || !Number.isInteger(count) || count < least) {
    throw new InvalidInputError(`${kind}: ${name} must be an integer ≥ ${least} or a fraction in (0, 1), got ${value}`, "BAD_PARAMETER");
  }
  return count;
}

/** null → no limit; otherwise a positive integer. */
export function limit(value: number | null, name: string, kind: string, least = 1): number {
  if (value === null) return Infinity;
  if (!Number.isInteger(value) || value < least) throw new InvalidInputError(`${kind}: ${name} must be an integer ≥ ${least} or null, got ${value}`, "BAD_PARAMETER");
  return value;
}

/** The seed training uses: randomState, or a fresh one when it is null (as sklearn's None). */
export function seedOf(randomState: number | null): number {
  return randomState === null ? Math.floor(Math.random() * 2 ** 32) : randomState >>> 0;
}

/** The growth limits decision trees and random forests share, in sklearn's names. */
export interface TreeLimits {
  maxDepth: number | null;
  minSamplesSplit: number;
  minSamplesLeaf: number;
  maxFeatures: MaxFeatures;
  maxLeafNodes: number | null;
  minImpurityDecrease: number;
}

export function growOptions(p: TreeLimits, rows: number, cols: number, random: Random, kind: string): GrowOptions {
  if (!(p.minImpurityDecrease >= 0)) throw new InvalidInputError(`${kind}: minImpurityDecrease must be ≥ 0, got ${p.minImpurityDecrease}`, "BAD_PARAMETER");
  return {
    maxDepth: limit(p.maxDepth, "maxDepth", kind),
    minSamplesSplit: rowCount(p.minSamplesSplit, rows, "minSamplesSplit", kind, 2),
    minSamplesLeaf: rowCount(p.minSamplesLeaf, rows, "minSamplesLeaf", kind, 1),
    maxFeatures: featuresPerNode(p.maxFeatures, cols, kind),
    maxLeafNodes: limit(p.maxLeafNodes, "maxLeafNodes", kind, 2),
    // sklearn weighs the decrease by the node's share of the rows; gains here are unnormalised sums.
    minGain: p.minImpurityDecrease * rows,
    random,
  };
}
