import { InvalidInputError } from "../errors.js";
import type { TrainingCallback } from "../estimator.js";
import type { Matrix } from "../matrix.js";
import { Random, indices } from "../random.js";
import { binFeatures } from "../tree/binning.js";
import { GradientCriterion } from "../tree/gradient-criterion.js";
import { growTreeWithLeaves } from "../tree/grow.js";
import { featuresPerNode, limit, seedOf } from "../tree/params.js";
import { leafOf, type Tree } from "../tree/tree.js";
import type { BoostingLoss } from "./boosting-loss.js";

/** sklearn's HistGradientBoosting parameters shared by the classifier and the regressor. */
export interface BoostingParams {
  learningRate: number;
  maxIter: number;
  maxLeafNodes: number | null;
  maxDepth: number | null;
  minSamplesLeaf: number;
  l2Regularization: number;
  maxFeatures: number;
  maxBins: number;
  /** "auto": on when there are more than 10,000 rows, as sklearn. */
  earlyStopping: "auto" | boolean;
  validationFraction: number;
  nIterNoChange: number;
  tol: number;
  randomState: number | null;
}

export const BOOSTING_DEFAULTS: BoostingParams = {
  learningRate: 0.1,
  maxIter: 100,
  maxLeafNodes: 31,
  maxDepth: null,
  minSamplesLeaf: 20,
  l2Regularization: 0,
  maxFeatures: 1.0,
  maxBins: 255,
  earlyStopping: "auto",
  validationFraction: 0.1,
  nIterNoChange: 10,
  tol: 1e-7,
  randomState: null,
};

/** The fitted ensemble: raw score k of a row = baseline[k] + Σ leaf values of trees t with t % nOutputs = k. */
export interface Boosted {
  baseline: Float64Array;
  trees: Tree[];
  nOutputs: number;
  /** Mean training loss after each iteration (index 0: the baseline alone). */
  trainLoss: Float64Array;
  /** The same on the held-out rows, when early stopping is on; empty otherwise. */
  validationLoss: Float64Array;
}

// sklearn's min_hessian_to_split: a child with less total hessian carries no information.
const MIN_HESSIAN = 1e-3;

export function boost(X: Matrix, loss: BoostingLoss, p: BoostingParams, kind: string, onEpoch?: TrainingCallback): Boosted {
  check(p, kind);
  const seed = seedOf(p.randomState);
  const random = new Random(seed);
  const early = p.earlyStopping === "auto" ? X.rows > 10_000 : p.earlyStopping;
  const { train, validation } = holdOut(X.rows, early ? p.validationFraction : 0, random);
  const binned = binFeatures(X, p.maxBins, seed);
  const K = loss.nOutputs;
  const baseline = loss.baseline(train);
  const raw = new Float64Array(X.rows * K);
  for (let i = 0; i < X.rows; i++) raw.set(baseline, i * K);
  const g = Array.from({ length: K }, () => new Float64Array(X.rows));
  const h = Array.from({ length: K }, () => new Float64Array(X.rows));
  const leaf = new Int32Array(X.rows);
  const options = {
    maxDepth: limit(p.maxDepth, "maxDepth", kind),
    minSamplesSplit: 2,
    minSamplesLeaf: p.minSamplesLeaf,
    maxFeatures: featuresPerNode(p.maxFeatures, X.cols, kind),
    maxLeafNodes: limit(p.maxLeafNodes, "maxLeafNodes", kind, 2),
    minGain: 0,
    random,
  };
  const trees: Tree[] = [];
  const trainLoss = [loss.loss(raw, train)];
  const validationLoss = early ? [loss.loss(raw, validation)] : [];
  for (let iter = 0; iter < p.maxIter; iter++) {
    loss.gradients(raw, train, g, h);
    for (let k = 0; k < K; k++) {
      const criterion = new GradientCriterion(g[k], h[k], { l2: p.l2Regularization, minHessian: MIN_HESSIAN, unitHessian: loss.unitHessian });
      const tree = growTreeWithLeaves(binned, train, criterion, options, leaf);
      for (let j = 0; j < tree.value.length; j++) tree.value[j] *= p.learningRate;
      for (const i of train) raw[i * K + k] += tree.value[leaf[i]];
      for (const i of validation) raw[i * K + k] += tree.value[leafOf(tree, X.data, i * X.cols)];
      trees.push(tree);
    }
    trainLoss.push(loss.loss(raw, train));
    if (early) validationLoss.push(loss.loss(raw, validation));
    onEpoch?.({ epoch: iter + 1, loss: trainLoss[iter + 1], metrics: early ? { validationLoss: validationLoss[iter + 1] } : undefined });
    if (early && noRecentImprovement(validationLoss, p.nIterNoChange, p.tol)) break;
  }
  return { baseline, trees, nOutputs: K, trainLoss: Float64Array.from(trainLoss), validationLoss: Float64Array.from(validationLoss) };
}

/** Raw scores (rows × nOutputs) of a fitted ensemble. */
export function rawScores(model: Boosted, X: Matrix): Float64Array {
  const K = model.nOutputs;
  const raw = new Float64Array(X.rows * K);
  for (let i = 0; i < X.rows; i++) raw.set(model.baseline, i * K);
  model.trees.forEach((tree, t) => {
    const k = t % K;
    for (let i = 0; i < X.rows; i++) raw[i * K + k] += tree.value[leafOf(tree, X.data, i * X.cols)];
  });
  return raw;
}

// sklearn's rule: stop when none of the last n losses beat the one before them by more than tol.
function noRecentImprovement(losses: number[], n: number, tol: number): boolean {
  if (losses.length <= n) return false;
  const reference = losses[losses.length - n - 1] - tol;
  return losses.slice(-n).every((l) => !(l < reference));
}

function holdOut(rows: number, fraction: number, random: Random): { train: Int32Array; validation: Int32Array } {
  if (fraction <= 0) return { train: indices(rows), validation: new Int32Array(0) };
  const order = random.permutation(rows);
  const n = Math.ceil(fraction * rows);
  return { train: order.slice(n).sort(), validation: order.slice(0, n).sort() };
}

function check(p: BoostingParams, kind: string): void {
  const bad = (name: string, requirement: string, value: unknown) => {
    throw new InvalidInputError(`${kind}: ${name} must be ${requirement}, got ${JSON.stringify(value)}`, "BAD_PARAMETER");
  };
  if (!(p.learningRate > 0)) bad("learningRate", "> 0", p.learningRate);
  if (!Number.isInteger(p.maxIter) || p.maxIter < 1) bad("maxIter", "a positive integer", p.maxIter);
  if (!Number.isInteger(p.minSamplesLeaf) || p.minSamplesLeaf < 1) bad("minSamplesLeaf", "a positive integer", p.minSamplesLeaf);
  if (!(p.l2Regularization >= 0)) bad("l2Regularization", "≥ 0", p.l2Regularization);
  if (!Number.isInteger(p.maxBins) || p.maxBins < 2 || p.maxBins > 255) bad("maxBins", "an integer in [2, 255]", p.maxBins);
  if (!(p.maxFeatures > 0 && p.maxFeatures <= 1)) bad("maxFeatures", "a fraction in (0, 1]", p.maxFeatures);
  if (!(p.validationFraction > 0 && p.validationFraction < 1)) bad("validationFraction", "in (0, 1)", p.validationFraction);
  if (!Number.isInteger(p.nIterNoChange) || p.nIterNoChange < 1) bad("nIterNoChange", "a positive integer", p.nIterNoChange);
  if (!["auto", true, false].includes(p.earlyStopping)) bad("earlyStopping", `"auto", true or false`, p.earlyStopping);
}
