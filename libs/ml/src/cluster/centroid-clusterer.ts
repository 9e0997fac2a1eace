import type { OnnxGraphBuilder } from "@kiln/onnx";
import { BaseEstimator } from "../base-estimator.js";
import type { Clusterer, OnnxOutputs, Params } from "../estimator.js";
import type { Matrix, MatrixInput } from "../matrix.js";
import { assignNearest, distancesTo } from "./distances.js";
import type { ClusterState } from "./kmeans.js";
import { clustersToOnnx, exportClusters } from "./onnx.js";

/** What KMeans and MiniBatchKMeans share once fitted: nearest-centre prediction, distances, score, ONNX. */
export abstract class CentroidClusterer<P extends Params, S extends ClusterState> extends BaseEstimator<P, S> implements Clusterer {
  abstract fit(X: MatrixInput): this;

  /** nClusters × nFeatures. */
  get clusterCenters(): Matrix {
    const s = this.fittedState();
    return { data: s.centers, rows: s.nClusters, cols: s.nFeatures };
  }

  /** Sum of squared distances of the rows last fitted to their centres (after partialFit, of that batch). */
  get inertia(): number {
    return this.fittedState().inertia;
  }

  get nIter(): number {
    return this.fittedState().nIter;
  }

  predict(X: MatrixInput): Int32Array {
    const { m, state } = this.checkedInput(X);
    const labels = new Int32Array(m.rows);
    assignNearest(m, state.centers, state.nClusters, labels, new Float64Array(m.rows));
    return labels;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    return { data: distancesTo(m, state.centers, state.nClusters), rows: m.rows, cols: state.nClusters };
  }

  fitTransform(X: MatrixInput): Matrix {
    return this.fit(X).transform(X);
  }

  /** Minus the inertia of X, as sklearn's score (higher is better). */
  score(X: MatrixInput): number {
    const { m, state } = this.checkedInput(X);
    return -assignNearest(m, state.centers, state.nClusters, new Int32Array(m.rows), new Float64Array(m.rows));
  }

  override toOnnx(): Uint8Array {
    return clustersToOnnx(this);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const s = this.fittedState();
    return exportClusters(graph, input, prefix, s.centers, s.nClusters, s.nFeatures);
  }
}
