import type { Random } from "../random.js";
import { activate, multiplyByDerivative, type Activation, type OutputActivation } from "./activations.js";
import { addTransposedProduct, multiplyAddBias, multiplyTransposed } from "./matmul.js";

/** A fully connected network: layer l maps sizes[l] inputs to sizes[l + 1] outputs, weights[l] row-major [in][out] as sklearn's coefs_. */
export interface Network {
  sizes: number[];
  weights: Float64Array[];
  biases: Float64Array[];
}

/** sklearn's Glorot-uniform start: bound √(6 / (fan_in + fan_out)), or √(2 / …) with logistic hidden units. */
export function initialNetwork(sizes: number[], activation: Activation, random: Random): Network {
  const factor = activation === "logistic" ? 2 : 6;
  const weights: Float64Array[] = [];
  const biases: Float64Array[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const bound = Math.sqrt(factor / (sizes[l] + sizes[l + 1]));
    weights.push(Float64Array.from({ length: sizes[l] * sizes[l + 1] }, () => (2 * random.next() - 1) * bound));
    biases.push(Float64Array.from({ length: sizes[l + 1] }, () => (2 * random.next() - 1) * bound));
  }
  return { sizes, weights, biases };
}

/** Per-layer activations of a batch (layer 0 is the input); reused between batches of at most `rows` rows. */
export function layerBuffers(sizes: number[], rows: number): Float64Array[] {
  return sizes.map((s) => new Float64Array(rows * s));
}

/** Fills acts[1..] from acts[0] (rows × sizes[0]); the last layer gets the output activation. */
export function forward(net: Network, hidden: Activation, output: OutputActivation, acts: Float64Array[], rows: number): void {
  const L = net.weights.length;
  for (let l = 0; l < L; l++) {
    const n = net.sizes[l];
    const m = net.sizes[l + 1];
    const W = net.weights[l];
    const b = net.biases[l];
    const Z = acts[l + 1];
    multiplyAddBias(acts[l], W, b, Z, rows, n, m);
    activate(l === L - 1 ? output : hidden, Z, rows, m);
  }
}

/**
 * Gradients of the mean loss plus the L2 penalty (alpha/2)·ΣW² over the batch, as sklearn's _backprop.
 * With the matching loss for each output activation (log loss for logistic/softmax, half squared error
 * for identity), the output error is simply prediction - target.
 */
export function backward(
  net: Network,
  hidden: Activation,
  acts: Float64Array[],
  targets: Float64Array,
  rows: number,
  alpha: number,
  gradW: Float64Array[],
  gradB: Float64Array[],
  deltas: Float64Array[],
): void {
  const L = net.weights.length;
  const out = acts[L];
  const last = deltas[L];
  const width = net.sizes[L];
  for (let i = 0; i < rows * width; i++) last[i] = out[i] - targets[i];
  for (let l = L - 1; l >= 0; l--) {
    const n = net.sizes[l];
    const m = net.sizes[l + 1];
    const A = acts[l];
    const D = deltas[l + 1];
    const W = net.weights[l];
    const gW = gradW[l];
    const gB = gradB[l];
    for (let i = 0; i < n * m; i++) gW[i] = alpha * W[i];
    gB.fill(0);
    for (let r = 0; r < rows; r++) {
      const d = r * m;
      for (let j = 0; j < m; j++) gB[j] += D[d + j];
    }
    addTransposedProduct(A, D, gW, rows, n, m);
    for (let i = 0; i < n * m; i++) gW[i] /= rows;
    for (let j = 0; j < m; j++) gB[j] /= rows;
    if (l === 0) continue;
    const P = deltas[l];
    multiplyTransposed(D, W, P, rows, m, n);
    multiplyByDerivative(hidden, A, P, rows * n);
  }
}

/** Mean loss of the batch, without the penalty: log loss (logistic, softmax) or half squared error (identity). */
export function batchLoss(output: OutputActivation, predicted: Float64Array, targets: Float64Array, rows: number, width: number): number {
  const eps = 2.220446049250313e-16;
  let sum = 0;
  const n = rows * width;
  if (output === "identity") {
    for (let i = 0; i < n; i++) sum += (predicted[i] - targets[i]) ** 2;
    return sum / n / 2;
  }
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - eps, Math.max(eps, predicted[i]));
    sum -= targets[i] * Math.log(p) + (output === "logistic" ? (1 - targets[i]) * Math.log(1 - p) : 0);
  }
  return sum / rows;
}

export function squaredWeights(net: Network): number {
  let s = 0;
  for (const W of net.weights) for (let i = 0; i < W.length; i++) s += W[i] * W[i];
  return s;
}
