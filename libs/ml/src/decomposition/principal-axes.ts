import { EigenvalueDecomposition, Matrix as MlMatrix, SingularValueDecomposition } from "ml-matrix";
import type { Matrix } from "../matrix.js";
import { normalEquations } from "../linear/normal-equations.js";
import { momentsOf } from "../preprocessing/moments.js";

/** Principal axes of centered data, by decreasing variance. */
export interface PrincipalAxes {
  mean: Float64Array;
  /** rank × k, row-major; signs as sklearn's svd_flip (each axis's largest-magnitude entry positive). */
  axes: Float64Array;
  /** Variance along each axis (S²/(n − 1)). */
  variance: Float64Array;
  /** Sum of every column's variance. */
  totalVariance: number;
}

/**
 * n ≥ k: eigendecomposition of the k × k covariance (sklearn's "covariance_eigh", its
 * choice for tall data); n < k: SVD of the centered n × k data, where the covariance would be larger.
 */
export function principalAxes(m: Matrix): PrincipalAxes {
  const { rows: n, cols: k } = m;
  const moments = momentsOf(m);
  const totalVariance = moments.variance.reduce((a, b) => a + b, 0) * (n / Math.max(n - 1, 1));
  const { axes, variance } = n >= k ? fromCovariance(normalEquations(m, new Float64Array(n), true).gram, k, n) : fromSvd(m, moments.mean);
  flipSigns(axes, k);
  return { mean: moments.mean, axes, variance, totalVariance };
}

function fromCovariance(gram: Float64Array, k: number, n: number): { axes: Float64Array; variance: Float64Array } {
  const rows = Array.from({ length: k }, (_, i) => Array.from(gram.subarray(i * k, (i + 1) * k)));
  const evd = new EigenvalueDecomposition(new MlMatrix(rows), { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((_, i) => i).sort((a, b) => evd.realEigenvalues[b] - evd.realEigenvalues[a]);
  const vectors = evd.eigenvectorMatrix;
  const axes = new Float64Array(k * k);
  order.forEach((c, i) => {
    for (let j = 0; j < k; j++) axes[i * k + j] = vectors.get(j, c);
  });
  // Rounding can leave tiny negative eigenvalues for directions with no variance.
  const variance = Float64Array.from(order, (c) => Math.max(0, evd.realEigenvalues[c]) / Math.max(n - 1, 1));
  return { axes, variance };
}

function fromSvd(m: Matrix, mean: Float64Array): { axes: Float64Array; variance: Float64Array } {
  const { rows: n, cols: k, data } = m;
  const centered = Array.from({ length: n }, (_, r) => Array.from({ length: k }, (_, j) => data[r * k + j] - mean[j]));
  const svd = new SingularValueDecomposition(new MlMatrix(centered), { autoTranspose: true, computeLeftSingularVectors: false });
  const rank = Math.min(n, k);
  const right = svd.rightSingularVectors;
  const axes = new Float64Array(rank * k);
  for (let i = 0; i < rank; i++) for (let j = 0; j < k; j++) axes[i * k + j] = right.get(j, i);
  const variance = Float64Array.from(svd.diagonal.slice(0, rank), (s) => (s * s) / Math.max(n - 1, 1));
  return { axes, variance };
}

function flipSigns(axes: Float64Array, k: number): void {
  for (let i = 0; i < axes.length / k; i++) {
    let largest = 0;
    for (let j = 1; j < k; j++) if (Math.abs(axes[i * k + j]) > Math.abs(axes[i * k + largest])) largest = j;
    if (axes[i * k + largest] < 0) for (let j = 0; j < k; j++) axes[i * k + j] = -axes[i * k + j];
  }
}
