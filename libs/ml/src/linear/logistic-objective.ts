import type { Matrix } from "../matrix.js";
import { dot } from "./kernels.js";
import type { Objective } from "./lbfgs.js";

// Rows per gradient update: one pass of the gradient row adds four rows' terms, a quarter of the loads and stores.
const BLOCK = 4;

/**
 * sklearn's lbfgs objective for LogisticRegression: mean log-loss + l2/2 · ‖W‖² (intercepts
 * unpenalised), with l2 = 1/(C·n). One output is the binary model (sigmoid of the greater
 * class's score); K outputs the multinomial one (softmax). Parameters are W (outputs × k,
 * row-major) followed by the intercepts when fitted.
 */
export function logisticObjective(m: Matrix, y: Int32Array, outputs: number, fitIntercept: boolean, l2: number): Objective {
  const { rows: n, cols: k, data } = m;
  const residual = new Float64Array(BLOCK * outputs);
  const bias = outputs * k;
  return (params, grad) => {
    grad.fill(0);
    let loss = 0;
    for (let start = 0; start < n; start += BLOCK) {
      const rows = Math.min(BLOCK, n - start);
      for (let c = 0; c < outputs; c++) addScores(residual, c, outputs, data, start * k, k, params, rows, fitIntercept ? params[bias + c] : 0);
      for (let i = 0; i < rows; i++) {
        const z = residual.subarray(i * outputs, (i + 1) * outputs);
        loss += outputs === 1 ? binaryLossAndResidual(z, y[start + i]) : multinomialLossAndResidual(z, y[start + i]);
      }
      for (let c = 0; c < outputs; c++) addGradient(grad, c * k, data, start * k, k, residual, c, outputs, rows);
      if (fitIntercept) for (let i = 0; i < rows; i++) for (let c = 0; c < outputs; c++) grad[bias + c] += residual[i * outputs + c];
    }
    let penalty = 0;
    for (let i = 0; i < grad.length; i++) grad[i] /= n;
    for (let i = 0; i < bias; i++) {
      penalty += params[i] * params[i];
      grad[i] += l2 * params[i];
    }
    return loss / n + 0.5 * l2 * penalty;
  };
}

/** scores[i, c] = b + W[c] · X[row i] for the block's rows, the four rows sharing each load of W[c]. */
function addScores(scores: Float64Array, c: number, outputs: number, data: Float64Array, o: number, k: number, W: Float64Array, rows: number, b: number): void {
  const w = c * k;
  if (rows < BLOCK) {
    for (let i = 0; i < rows; i++) scores[i * outputs + c] = b + dot(data, o + i * k, W, w, k);
    return;
  }
  let s0 = b;
  let s1 = b;
  let s2 = b;
  let s3 = b;
  for (let j = 0; j < k; j++) {
    const v = W[w + j];
    s0 += v * data[o + j];
    s1 += v * data[o + k + j];
    s2 += v * data[o + 2 * k + j];
    s3 += v * data[o + 3 * k + j];
  }
  scores[c] = s0;
  scores[outputs + c] = s1;
  scores[2 * outputs + c] = s2;
  scores[3 * outputs + c] = s3;
}

/** log(1 + e^s) − y·s; leaves σ(s) − y in z[0]. */
function binaryLossAndResidual(z: Float64Array, label: number): number {
  const s = z[0];
  const e = Math.exp(-Math.abs(s));
  z[0] = (s >= 0 ? 1 / (1 + e) : e / (1 + e)) - label;
  return Math.max(s, 0) + Math.log1p(e) - label * s;
}

/** logsumexp(z) − z_y; leaves softmax(z) − onehot(y) in z. */
function multinomialLossAndResidual(z: Float64Array, label: number): number {
  let max = -Infinity;
  for (let c = 0; c < z.length; c++) if (z[c] > max) max = z[c];
  const zy = z[label];
  let sum = 0;
  for (let c = 0; c < z.length; c++) {
    z[c] = Math.exp(z[c] - max);
    sum += z[c];
  }
  for (let c = 0; c < z.length; c++) z[c] /= sum;
  z[label] -= 1;
  return max + Math.log(sum) - zy;
}

/** grad[g..g+k) += Σᵢ residual[i, c] · X[row i], for the block's rows starting at data[o]. */
function addGradient(grad: Float64Array, g: number, data: Float64Array, o: number, k: number, residual: Float64Array, c: number, outputs: number, rows: number): void {
  if (rows === BLOCK) {
    const a = residual[c];
    const b = residual[outputs + c];
    const d = residual[2 * outputs + c];
    const e = residual[3 * outputs + c];
    for (let j = 0; j < k; j++) grad[g + j] += a * data[o + j] + b * data[o + k + j] + d * data[o + 2 * k + j] + e * data[o + 3 * k + j];
    return;
  }
  for (let i = 0; i < rows; i++) {
    const a = residual[i * outputs + c];
    for (let j = 0; j < k; j++) grad[g + j] += a * data[o + i * k + j];
  }
}
