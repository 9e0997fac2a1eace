import { InvalidInputError } from "../errors.js";
import type { Matrix } from "../matrix.js";
import { Random, indices } from "../random.js";
import { binFeatures, TREE_BINS } from "../tree/binning.js";
import type { Criterion } from "../tree/criterion.js";
import { growTree } from "../tree/grow.js";
import { growOptions, seedOf, type TreeLimits } from "../tree/params.js";
import type { Tree } from "../tree/tree.js";
import { bootstrap, drawsOf } from "./bootstrap.js";

/** sklearn's forest parameters besides the trees' own limits. */
export interface ForestParams extends TreeLimits {
  nEstimators: number;
  bootstrap: boolean;
  maxSamples: number | null;
  randomState: number | null;
}

/**
 * Grows `nEstimators` trees, each on its own bootstrap sample with its own seed, all on one binning of X.
 * `criterion(weight, rows)` makes the split criterion for a sample (weight null without bootstrap).
 */
export function growForest(X: Matrix, p: ForestParams, kind: string, criterion: (weight: Float64Array | null, rows: Int32Array) => Criterion): Tree[] {
  if (!Number.isInteger(p.nEstimators) || p.nEstimators < 1) throw new InvalidInputError(`${kind}: nEstimators must be a positive integer, got ${p.nEstimators}`, "BAD_PARAMETER");
  if (p.maxSamples !== null && !p.bootstrap) throw new InvalidInputError(`${kind}: maxSamples needs bootstrap: true`, "BAD_PARAMETER");
  const seed = seedOf(p.randomState);
  const seeds = new Random(seed);
  const binned = binFeatures(X, TREE_BINS, seed);
  const all = indices(X.rows);
  const draws = drawsOf(p.maxSamples, X.rows);
  const trees: Tree[] = [];
  for (let t = 0; t < p.nEstimators; t++) {
    const random = new Random(Math.floor(seeds.next() * 2 ** 32));
    const sample = p.bootstrap ? bootstrap(X.rows, draws, random) : { rows: all, weight: null };
    trees.push(growTree(binned, sample.rows, criterion(sample.weight, sample.rows), growOptions(p, X.rows, X.cols, random, kind)));
  }
  return trees;
}
