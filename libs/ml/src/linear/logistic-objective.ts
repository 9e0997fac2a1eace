import type { Matrix } from "../matrix.js";
import { dot } from "./kernels.js";
import { kernelMemory } from "../wasm/kernel-instance.js";
import { linearProductsKernel, type LinearProductsKernel } from "../wasm/linear-products.js";
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
  // X's padded copy must fit a 32-bit WebAssembly memory; past that the JavaScript objective reads X where it is.
  if (m.rows * m.cols >= SIMD_MIN_VALUES && Math.ceil(m.rows / 4) * 4 * kernelWidth(m.cols, fitIntercept) <= SIMD_MAX_VALUES) {
    const kernel = linearProductsKernel();
    if (kernel) return simdLogisticObjective(kernel, m, y, outputs, fitIntercept, l2);
  }
  return logisticObjectiveInJs(m, y, outputs, fitIntercept, l2);
}

/** The objective in JavaScript register tiles (small X, or no WebAssembly SIMD). */
export function logisticObjectiveInJs(m: Matrix, y: Int32Array, outputs: number, fitIntercept: boolean, l2: number): Objective {
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
        loss += outputs === 1 ? binaryLossAndResidual(residual, i, y[start + i]) : multinomialLossAndResidual(residual, i * outputs, outputs, y[start + i]);
      }
      for (let c = 0; c < outputs; c++) addGradient(grad, c * k, data, start * k, k, residual, c, outputs, rows);
      if (fitIntercept) for (let i = 0; i < rows; i++) for (let c = 0; c < outputs; c++) grad[bias + c] += residual[i * outputs + c];
    }
    return finish(grad, params, bias, n, l2, loss);
  };
}

/** Below this many values of X the copy into the kernel's memory is not worth it. */
const SIMD_MIN_VALUES = 50_000;
/** 1 GiB of f64: byte offsets stay within a signed i32, and the memory well within the 4 GiB a 32-bit one can have. */
const SIMD_MAX_VALUES = 2 ** 27;
/** Bytes of X scored, then turned into residuals and into the gradient, at a time (about L1's size). */
const SIMD_BLOCK_BYTES = 24 << 10;

/**
 * The same objective with the products in WebAssembly SIMD: X is copied once into the
 * kernel's own memory (rows padded to a multiple of eight values, with a column of ones
 * for the intercepts, so the kernel yields their gradient too; zero rows up to a multiple
 * of four), then every evaluation scores a block of rows there, turns the scores into
 * residuals here (exp and log), and adds the block's gradient there. The kernel, and X's
 * copy with it, goes with the objective.
 */
function simdLogisticObjective(kernel: LinearProductsKernel, m: Matrix, y: Int32Array, outputs: number, fitIntercept: boolean, l2: number): Objective {
  const { rows: n, cols: k, data } = m;
  const width = kernelWidth(k, fitIntercept);
  const quads = Math.ceil(n / 4);
  const pairs = Math.ceil(outputs / 2);
  const stride = 2 * pairs;
  const blockQuads = Math.max(1, Math.floor(SIMD_BLOCK_BYTES / (32 * width)));
  // In f64: X, W, the gradient, a block's scores, its rows' loss parts; then the labels as i32.
  const wAt = quads * 4 * width;
  const gradAt = wAt + stride * width;
  const scoresAt = gradAt + stride * width;
  const lossAt = scoresAt + blockQuads * 4 * stride;
  const labelsAt = lossAt + blockQuads * 4 * 2;
  const memory = kernelMemory(kernel.memory, labelsAt * 8 + n * 4);
  memory.fill(0, 0, scoresAt);
  for (let r = 0; r < n; r++) {
    memory.set(data.subarray(r * k, (r + 1) * k), r * width);
    if (fitIntercept) memory[r * width + k] = 1;
  }
  new Int32Array(kernel.memory.buffer, labelsAt * 8, n).set(y);
  const bias = outputs * k;
  return (params, grad) => {
    for (let c = 0; c < outputs; c++) {
      memory.set(params.subarray(c * k, (c + 1) * k), wAt + c * width);
      if (fitIntercept) memory[wAt + c * width + k] = params[bias + c];
    }
    memory.fill(0, gradAt, scoresAt);
    let loss = 0;
    for (let q = 0; q < quads; q += blockQuads) {
      const blockRows = 4 * Math.min(blockQuads, quads - q);
      const first = 4 * q;
      const last = Math.min(n, first + blockRows);
      kernel.scores(first * width * 8, blockRows / 4, width, wAt * 8, pairs, scoresAt * 8);
      if (outputs === 1) loss += binaryResiduals(memory, scoresAt, y, first, last);
      else {
        kernel.softmax(scoresAt * 8, last - first, pairs, outputs, labelsAt * 8 + first * 4, lossAt * 8);
        for (let i = 0, at = lossAt; i < last - first; i++, at += 2) loss += memory[at] + Math.log(memory[at + 1]);
      }
      memory.fill(0, scoresAt + (last - first) * stride, scoresAt + blockRows * stride); // the padding rows add nothing
      kernel.gradient(first * width * 8, blockRows / 4, width, scoresAt * 8, pairs, gradAt * 8);
    }
    for (let c = 0; c < outputs; c++) {
      for (let j = 0; j < k; j++) grad[c * k + j] = memory[gradAt + c * width + j];
      if (fitIntercept) grad[bias + c] = memory[gradAt + c * width + k];
    }
    return finish(grad, params, bias, n, l2, loss);
  };
}

/** Values a row of X takes in the kernel: its k, a one for the intercepts, zeros up to a multiple of eight. */
function kernelWidth(k: number, fitIntercept: boolean): number {
  return Math.ceil((k + (fitIntercept ? 1 : 0)) / 8) * 8;
}

/** Binary rows first..last, scores at a[at] two apart (the second the padding output): the summed loss; residuals in place. */
function binaryResiduals(a: Float64Array, at: number, y: Int32Array, first: number, last: number): number {
  let loss = 0;
  for (let r = first, z = at; r < last; r++, z += 2) {
    loss += binaryLossAndResidual(a, z, y[r]);
    a[z + 1] = 0;
  }
  return loss;
}

/** Mean loss and gradient plus the L2 penalty on the weights (not the intercepts). */
function finish(grad: Float64Array, params: Float64Array, bias: number, n: number, l2: number, loss: number): number {
  let penalty = 0;
  for (let i = 0; i < grad.length; i++) grad[i] /= n;
  for (let i = 0; i < bias; i++) {
    penalty += params[i] * params[i];
    grad[i] += l2 * params[i];
  }
  return loss / n + 0.5 * l2 * penalty;
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

/** For the score s = a[at]: log(1 + e^s) − y·s; leaves σ(s) − y in a[at]. */
function binaryLossAndResidual(a: Float64Array, at: number, label: number): number {
  const s = a[at];
  const e = Math.exp(-Math.abs(s));
  a[at] = (s >= 0 ? 1 / (1 + e) : e / (1 + e)) - label;
  return Math.max(s, 0) + Math.log1p(e) - label * s;
}

/** For the scores z = a[at, at + outputs): logsumexp(z) − z_y; leaves softmax(z) − onehot(y) in z. */
function multinomialLossAndResidual(a: Float64Array, at: number, outputs: number, label: number): number {
  const end = at + outputs;
  let max = -Infinity;
  for (let c = at; c < end; c++) if (a[c] > max) max = a[c];
  const zy = a[at + label];
  let sum = 0;
  for (let c = at; c < end; c++) {
    a[c] = Math.exp(a[c] - max);
    sum += a[c];
  }
  for (let c = at; c < end; c++) a[c] /= sum;
  a[at + label] -= 1;
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
