import { registerEstimator } from "../catalog.js";
import type { Params, TrainingCallback } from "../estimator.js";
import { InvalidInputError } from "../errors.js";
import { CentroidClusterer } from "./centroid-clusterer.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type MatrixInput } from "../matrix.js";
import { Random, indices } from "../random.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { seedOf } from "../tree/params.js";
import { kmeansPlusPlus, randomRows } from "./kmeans-plus-plus.js";
import { rowAssigner } from "./row-assigner.js";
import { lloyd, scaledTolerance, type Clustering } from "./lloyd.js";

export interface KMeansParams extends Params {
  nClusters: number;
  init: "k-means++" | "random";
  /** Runs from different starts, the lowest inertia kept; "auto" is 1 for k-means++ and 10 for random, as sklearn. */
  nInit: number | "auto";
  maxIter: number;
  tol: number;
  randomState: number | null;
}

export interface ClusterState extends FittedState {
  centers: Float64Array;
  nClusters: number;
  inertia: number;
  nIter: number;
}

/** sklearn's KMeans (Lloyd). transform gives Euclidean distances to the centres; onEpoch reports each run's inertia. */
export class KMeans extends CentroidClusterer<KMeansParams, ClusterState> {
  onEpoch?: TrainingCallback;

  constructor({ onEpoch, ...params }: Partial<KMeansParams> & { onEpoch?: TrainingCallback } = {}) {
    super("KMeans", { nClusters: 8, init: "k-means++", nInit: "auto", maxIter: 300, tol: 1e-4, randomState: null }, params);
    this.onEpoch = onEpoch;
  }

  static fromJSON(model: SerializedModel | string): KMeans {
    return BaseEstimator.restore((p) => new KMeans(p), model);
  }

  fit(X: MatrixInput): this {
    this.fitClusters(X);
    return this;
  }

  fitPredict(X: MatrixInput): Int32Array {
    return this.fitClusters(X).labels;
  }

  private fitClusters(X: MatrixInput): Clustering {
    const m = toMatrix(X, { copy: false });
    const p = this.params;
    const k = checkClusters(p.nClusters, m.rows, this.kind);
    if (!Number.isInteger(p.maxIter) || p.maxIter < 1) this.invalidParameter("maxIter", "a positive integer");
    if (!(p.tol >= 0)) this.invalidParameter("tol", "≥ 0");
    if (p.init !== "k-means++" && p.init !== "random") this.invalidParameter("init", `"k-means++" or "random"`);
    const runs = kmeansRuns(p);
    if (!Number.isInteger(runs) || runs < 1) this.invalidParameter("nInit", `a positive integer or "auto"`);
    const random = new Random(seedOf(p.randomState));
    const tolerance = scaledTolerance(m, p.tol);
    const all = indices(m.rows);
    let best: Clustering | null = null;
    const rows = rowAssigner(m, k);
    try {
      for (let run = 0; run < runs; run++) {
        const start = p.init === "random" ? randomRows(m, k, random, all) : kmeansPlusPlus(m, k, random);
        const result = lloyd(m, start, k, p.maxIter, tolerance, rows);
        this.onEpoch?.({ epoch: run + 1, loss: result.inertia, metrics: { iterations: result.nIter } });
        if (!best || result.inertia < best.inertia) best = result;
      }
    } finally {
      rows.close();
    }
    this.state = { nFeatures: m.cols, centers: best!.centers, nClusters: k, inertia: best!.inertia, nIter: best!.nIter };
    return best!;
  }
}

/** How many runs from different starts a fit makes: nInit, where "auto" is 10 for random starts and 1 for k-means++, as sklearn. */
export function kmeansRuns(p: Pick<KMeansParams, "nInit" | "init">): number {
  return p.nInit === "auto" ? (p.init === "random" ? 10 : 1) : p.nInit;
}

export function checkClusters(nClusters: number, rows: number, kind: string): number {
  if (!Number.isInteger(nClusters) || nClusters < 1) throw new InvalidInputError(`${kind}: nClusters must be a positive integer, got ${nClusters}`, "BAD_PARAMETER");
  if (rows < nClusters) throw new InvalidInputError(`${kind}: X has ${rows} rows, fewer than nClusters = ${nClusters}`, "TOO_FEW_ROWS");
  return nClusters;
}

registerLoader("KMeans", (m) => KMeans.fromJSON(m));
registerEstimator("KMeans", (p, onEpoch) => new KMeans({ ...p, onEpoch }));
