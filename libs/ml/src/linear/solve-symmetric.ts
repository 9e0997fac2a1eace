import { EigenvalueDecomposition, Matrix as MlMatrix } from "ml-matrix";

/**
 * Solves (A + ridge·I) w = b for symmetric positive semi-definite A (k × k, row-major).
 * Cholesky on the diagonally scaled system; when that is (near-)singular — collinear or
 * constant columns — the minimum-norm solution from an eigendecomposition, which is what
 * scikit-learn's lstsq returns for rank-deficient X.
 */
export function solveSymmetric(A: Float64Array, b: Float64Array, k: number, ridge = 0): Float64Array {
  const system = A.slice();
  for (let i = 0; i < k; i++) system[i * k + i] += ridge;
  return choleskyScaled(system, b, k) ?? minimumNorm(system, b, k);
}

// Scaling to a unit diagonal makes the pivot test scale-free: a pivot is 1 − R² of that column on the ones before it.
const MIN_PIVOT = 1e-10;

function choleskyScaled(A: Float64Array, b: Float64Array, k: number): Float64Array | null {
  const d = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    if (!(A[i * k + i] > 0)) return null;
    d[i] = Math.sqrt(A[i * k + i]);
  }
  const L = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = A[i * k + j] / (d[i] * d[j]);
      for (let p = 0; p < j; p++) sum -= L[i * k + p] * L[j * k + p];
      if (i === j) {
        if (!(sum > MIN_PIVOT)) return null;
        L[i * k + i] = Math.sqrt(sum);
      } else {
        L[i * k + j] = sum / L[j * k + j];
      }
    }
  }
  const z = new Float64Array(k);
  for (let i = 0; i < k; i++) {
    let sum = b[i] / d[i];
    for (let p = 0; p < i; p++) sum -= L[i * k + p] * z[p];
    z[i] = sum / L[i * k + i];
  }
  const w = new Float64Array(k);
  for (let i = k - 1; i >= 0; i--) {
    let sum = z[i];
    for (let p = i + 1; p < k; p++) sum -= L[p * k + i] * w[p];
    w[i] = sum / L[i * k + i];
  }
  for (let i = 0; i < k; i++) w[i] /= d[i];
  return w;
}

// Eigenvalues of a Gram matrix carry rounding of about k·ε·λmax, so smaller ones are taken as zero.
const RELATIVE_EIGEN_CUTOFF = 1e-12;

function minimumNorm(A: Float64Array, b: Float64Array, k: number): Float64Array {
  const rows = Array.from({ length: k }, (_, i) => Array.from(A.subarray(i * k, (i + 1) * k)));
  const evd = new EigenvalueDecomposition(new MlMatrix(rows), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  const cutoff = Math.max(0, ...values) * RELATIVE_EIGEN_CUTOFF;
  const w = new Float64Array(k);
  values.forEach((lambda, c) => {
    if (!(lambda > cutoff)) return;
    let proj = 0;
    for (let i = 0; i < k; i++) proj += vectors.get(i, c) * b[i];
    for (let i = 0; i < k; i++) w[i] += (vectors.get(i, c) * proj) / lambda;
  });
  return w;
}
