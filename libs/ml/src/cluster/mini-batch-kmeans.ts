import { registerEstimator } from "../catalog.js";
import type { Incremental, Params, TrainingCallback } from "../estimator.js";
import { CentroidClusterer } from "./centroid-clusterer.js";
import { BaseEstimator } from "../base-estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { Random, indices } from "../random.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { seedOf } from "../tree/params.js";
import { assignNearest } from "./distances.js";
import { checkClusters, type ClusterState } from "./kmeans.js";
import { kmeansPlusPlus, randomRows } from "./kmeans-plus-plus.js";
import { scaledTolerance } from "./lloyd.js";
import { miniBatchStep } from "./mini-batch-step.js";

export interface MiniBatchKMeansParams extends Params {
  nClusters: number;
  init: "k-means++" | "random";
  /** Passes over the data. */
  maxIter: number;
  batchSize: number;
  /** Stop when the centres move less than this (scaled like KMeans' tol); 0 turns it off, as sklearn's default. */
  tol: number;
  /** Stop after this many batches without a better smoothed batch inertia. */
  maxNoImprovement: number | null;
  /** Rows the initialisation looks at; null for 3 × batchSize. */
  initSize: number | null;
  nInit: number | "auto";
  reassignmentRatio: number;
  randomState: number | null;
}

interface State extends ClusterState {
  /** Rows each centre has absorbed, which weighs it against the next batch. */
  counts: Float64Array;
  steps: number;
}

/** sklearn's MiniBatchKMeans: centres updated from random batches; partialFit learns from one batch at a time. */
export class MiniBatchKMeans extends CentroidClusterer<MiniBatchKMeansParams, State> implements Incremental {
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<MiniBatchKMeansParams> & { onEpoch?: TrainingCallback } = {}) {
    super(
      "MiniBatchKMeans",
      { nClusters: 8, init: "k-means++", maxIter: 100, batchSize: 1024, tol: 0, maxNoImprovement: 10, initSize: null, nInit: "auto", reassignmentRatio: 0.01, randomState: null },
      params,
    );
    this.onEpoch = onEpoch;
  }

  static fromJSON(model: SerializedModel | string): MiniBatchKMeans {
    return BaseEstimator.restore((p) => new MiniBatchKMeans(p), model);
  }

  fit(X: MatrixInput): this {
    const m = toMatrix(X, { copy: false });
    const p = this.checkParams(m.rows);
    const random = new Random(seedOf(p.randomState));
    const batch = Math.min(p.batchSize, m.rows);
    const centers = this.initialCenters(m, random);
    const counts = new Float64Array(p.nClusters);
    const steps = Math.ceil((p.maxIter * m.rows) / batch);
    const perEpoch = Math.ceil(m.rows / batch);
    const alpha = Math.min(1, (2 * batch) / (m.rows + 1));
    const tolerance = p.tol > 0 ? scaledTolerance(m, p.tol) : 0;
    let smoothed = NaN;
    let best = Infinity;
    let stale = 0;
    let taken = 0;
    const rows = new Int32Array(batch);
    for (let step = 0; step < steps; step++) {
      taken = step + 1;
      for (let i = 0; i < batch; i++) rows[i] = random.int(m.rows);
      const before = p.tol > 0 ? centers.slice() : null;
      const inertia = miniBatchStep(m, rows, centers, counts, p.nClusters, this.reassignment(step, counts, random)) / batch;
      // As sklearn, the first batch (measured against the initial centres, far worse) stays out of the average.
      if (step > 0) smoothed = Number.isNaN(smoothed) ? inertia : smoothed * (1 - alpha) + inertia * alpha;
      if ((step + 1) % perEpoch === 0) this.onEpoch?.({ epoch: (step + 1) / perEpoch, loss: Number.isNaN(smoothed) ? inertia : smoothed });
      if (before && squaredShift(before, centers) <= tolerance) break;
      if (step === 0) continue;
      if (smoothed < best) [best, stale] = [smoothed, 0];
      else if (p.maxNoImprovement !== null && ++stale >= p.maxNoImprovement) break;
    }
    const inertia = assignNearest(m, centers, p.nClusters, new Int32Array(m.rows), new Float64Array(m.rows));
    this.state = { nFeatures: m.cols, centers, nClusters: p.nClusters, inertia, nIter: Math.ceil(taken / perEpoch), counts, steps: taken };
    return this;
  }

  /** One update from the batch X; the first call initialises the centres from it (k-means++ on the batch, as sklearn). */
  partialFit(X: MatrixInput): this {
    const m = toMatrix(X, { copy: false });
    const all = indices(m.rows);
    if (!this.state) {
      const p = this.checkParams(m.rows);
      const random = new Random(seedOf(p.randomState));
      const centers = this.initialCenters(m, random);
      this.state = { nFeatures: m.cols, centers, nClusters: p.nClusters, inertia: 0, nIter: 0, counts: new Float64Array(p.nClusters), steps: 0 };
    }
    const s = this.state;
    checkWidth(m, s.nFeatures, this.kind);
    // a generator per step from the seed and the step number keeps a stored model's next partialFit reproducible
    const random = new Random((seedOf(this.params.randomState ?? 0) + s.steps) >>> 0);
    miniBatchStep(m, all, s.centers, s.counts, s.nClusters, this.reassignment(s.steps, s.counts, random));
    s.steps++;
    s.nIter = s.steps;
    s.inertia = assignNearest(m, s.centers, s.nClusters, new Int32Array(m.rows), new Float64Array(m.rows));
    return this;
  }

  private checkParams(rows: number): MiniBatchKMeansParams {
    const p = this.params;
    checkClusters(p.nClusters, rows, this.kind);
    if (!Number.isInteger(p.maxIter) || p.maxIter < 1) this.invalidParameter("maxIter", "a positive integer");
    if (!Number.isInteger(p.batchSize) || p.batchSize < 1) this.invalidParameter("batchSize", "a positive integer");
    if (!(p.tol >= 0)) this.invalidParameter("tol", "≥ 0");
    if (p.init !== "k-means++" && p.init !== "random") this.invalidParameter("init", `"k-means++" or "random"`);
    if (!(p.reassignmentRatio >= 0)) this.invalidParameter("reassignmentRatio", "≥ 0");
    return p;
  }

  /** The best of nInit starts on a random subset of initSize rows, by inertia on that subset. */
  private initialCenters(m: Matrix, random: Random): Float64Array {
    const p = this.params;
    const size = Math.min(m.rows, Math.max(p.nClusters, p.initSize ?? 3 * p.batchSize));
    const rows = random.permutation(m.rows).slice(0, size);
    const runs = p.nInit === "auto" ? (p.init === "random" ? 3 : 1) : p.nInit;
    if (!Number.isInteger(runs) || runs < 1) this.invalidParameter("nInit", `a positive integer or "auto"`);
    let best: Float64Array | null = null;
    let bestInertia = Infinity;
    for (let run = 0; run < runs; run++) {
      const centers = p.init === "random" ? randomRows(m, p.nClusters, random, rows) : kmeansPlusPlus(m, p.nClusters, random, rows);
      const inertia = runs === 1 ? 0 : assignNearest(m, centers, p.nClusters, new Int32Array(size), new Float64Array(size), rows);
      if (inertia < bestInertia || !best) [best, bestInertia] = [centers, inertia];
    }
    return best!;
  }

  // sklearn reassigns every (10 + least count) steps.
  private reassignment(step: number, counts: Float64Array, random: Random) {
    const ratio = this.params.reassignmentRatio;
    if (!(ratio > 0) || (step + 1) % (10 + Math.min(...counts)) !== 0) return null;
    return { ratio, random };
  }
}

function squaredShift(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j] - b[j]) ** 2;
  return s;
}

registerLoader("MiniBatchKMeans", (m) => MiniBatchKMeans.fromJSON(m));
registerEstimator("MiniBatchKMeans", (p, onEpoch) => new MiniBatchKMeans({ ...p, onEpoch }));
