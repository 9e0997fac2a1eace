import { InvalidInputError } from "../errors.js";
import type { TrainingCallback } from "../estimator.js";
import type { Matrix } from "../matrix.js";
import { indices, type Random } from "../random.js";
import { ACTIVATIONS, type Activation, type OutputActivation } from "./activations.js";
import { adamStep, type AdamState } from "./adam.js";
import { backward, batchLoss, forward, layerBuffers, squaredWeights, type Network } from "./network.js";

/** sklearn's MLP parameters (solver "adam"), camelCased, with its defaults below. */
export interface MLPParams {
  hiddenLayerSizes: number[];
  activation: Activation;
  solver: "adam";
  alpha: number;
  batchSize: number | "auto";
  learningRateInit: number;
  maxIter: number;
  shuffle: boolean;
  randomState: number | null;
  tol: number;
  earlyStopping: boolean;
  validationFraction: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  nIterNoChange: number;
}

export const MLP_DEFAULTS: MLPParams = {
  hiddenLayerSizes: [100],
  activation: "relu",
  solver: "adam",
  alpha: 0.0001,
  batchSize: "auto",
  learningRateInit: 0.001,
  maxIter: 200,
  shuffle: true,
  randomState: null,
  tol: 1e-4,
  earlyStopping: false,
  validationFraction: 0.1,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-8,
  nIterNoChange: 10,
};

/** Everything training has learned and needs to go on (partialFit after loading a stored model). */
export interface NetworkState {
  nFeatures: number;
  network: Network;
  output: OutputActivation;
  adam: AdamState;
  /** Mean training loss (with the L2 penalty) of each epoch. */
  lossCurve: number[];
  bestLoss: number;
  noImprovement: number;
  /** Held-out scores per epoch when earlyStopping is on. */
  validationScores: number[];
  bestValidationScore: number;
  epochs: number;
}

export function checkParams(p: MLPParams, kind: string): void {
  const bad = (name: string, requirement: string, value: unknown): never => {
    throw new InvalidInputError(`${kind}: ${name} must be ${requirement}, got ${JSON.stringify(value)}`, "BAD_PARAMETER");
  };
  if (!Array.isArray(p.hiddenLayerSizes) || !p.hiddenLayerSizes.every((h) => Number.isInteger(h) && h > 0)) bad("hiddenLayerSizes", "a list of positive integers", p.hiddenLayerSizes);
  if (!ACTIVATIONS.includes(p.activation)) bad("activation", ACTIVATIONS.map((a) => `"${a}"`).join(", "), p.activation);
  if (p.solver !== "adam") bad("solver", `"adam"`, p.solver);
  if (!(p.alpha >= 0)) bad("alpha", "≥ 0", p.alpha);
  if (p.batchSize !== "auto" && !(Number.isInteger(p.batchSize) && p.batchSize > 0)) bad("batchSize", `a positive integer or "auto"`, p.batchSize);
  if (!(p.learningRateInit > 0)) bad("learningRateInit", "> 0", p.learningRateInit);
  if (!Number.isInteger(p.maxIter) || p.maxIter < 1) bad("maxIter", "a positive integer", p.maxIter);
  if (!(p.beta1 >= 0 && p.beta1 < 1)) bad("beta1", "in [0, 1)", p.beta1);
  if (!(p.beta2 >= 0 && p.beta2 < 1)) bad("beta2", "in [0, 1)", p.beta2);
  if (!(p.epsilon > 0)) bad("epsilon", "> 0", p.epsilon);
  if (!(p.validationFraction > 0 && p.validationFraction < 1)) bad("validationFraction", "in (0, 1)", p.validationFraction);
  if (!Number.isInteger(p.nIterNoChange) || p.nIterNoChange < 1) bad("nIterNoChange", "a positive integer", p.nIterNoChange);
}

export interface EpochOptions {
  epochs: number;
  random: Random;
  onEpoch?: TrainingCallback;
  /** Score on held-out rows (higher is better), for early stopping. */
  validate?: () => number;
  /** fit stops at sklearn's no-improvement rule; partialFit runs its one epoch regardless. */
  stop: boolean;
}

/**
 * Epochs of mini-batch Adam over X with targets T (rows × outputs), updating `s` in place. With
 * `validate`, the network with the best held-out score is kept at the end, as sklearn does.
 */
export function runEpochs(s: NetworkState, X: Matrix, T: Float64Array, p: MLPParams, o: EpochOptions): void {
  const net = s.network;
  const sizes = net.sizes;
  const width = sizes[sizes.length - 1];
  const batch = p.batchSize === "auto" ? Math.min(200, X.rows) : Math.min(p.batchSize, X.rows);
  const acts = layerBuffers(sizes, batch);
  const deltas = layerBuffers(sizes, batch);
  const gradW = net.weights.map((w) => new Float64Array(w.length));
  const gradB = net.biases.map((b) => new Float64Array(b.length));
  const params = [...net.weights, ...net.biases];
  const grads = [...gradW, ...gradB];
  const targets = new Float64Array(batch * width);
  const settings = { learningRate: p.learningRateInit, beta1: p.beta1, beta2: p.beta2, epsilon: p.epsilon };
  const d = X.cols;
  let best: Float64Array[] | null = null;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const order = p.shuffle ? o.random.permutation(X.rows) : indices(X.rows);
    let total = 0;
    for (let start = 0; start < X.rows; start += batch) {
      const rows = Math.min(batch, X.rows - start);
      gatherRows(X.data, d, order, start, rows, acts[0]);
      gatherRows(T, width, order, start, rows, targets);
      forward(net, p.activation, s.output, acts, rows);
      const loss = batchLoss(s.output, acts[acts.length - 1], targets, rows, width) + (0.5 * p.alpha * squaredWeights(net)) / rows;
      total += loss * rows;
      backward(net, p.activation, acts, targets, rows, p.alpha, gradW, gradB, deltas);
      adamStep(params, grads, s.adam, settings);
    }
    const loss = total / X.rows;
    s.epochs++;
    s.lossCurve.push(loss);
    const score = o.validate?.();
    o.onEpoch?.({ epoch: s.epochs, loss, metrics: score === undefined ? undefined : { validationScore: score } });
    if (score !== undefined) {
      s.validationScores.push(score);
      s.noImprovement = score < s.bestValidationScore + p.tol ? s.noImprovement + 1 : 0;
      if (score > s.bestValidationScore) {
        s.bestValidationScore = score;
        best = params.map((a) => a.slice());
      }
    } else {
      s.noImprovement = loss > s.bestLoss - p.tol ? s.noImprovement + 1 : 0;
      if (loss < s.bestLoss) s.bestLoss = loss;
    }
    if (o.stop && s.noImprovement > p.nIterNoChange) break;
  }
  if (best) best.forEach((a, i) => params[i].set(a));
}

/** Rows whose first values gatherRows reads before copying any of them. */
const GATHER_AHEAD = 8;
/** Where gatherRows leaves the sum of the values it read ahead, so the compiler keeps those reads. */
let readAhead = 0;

/**
 * out[r] = row order[start + r] of `data` (rows of `width`), for r < rows; plain loops, as a
 * subarray per row costs an allocation. The rows are random, so each starts with a cache
 * miss: reading the first value of a few rows at once lets those misses overlap instead of
 * queueing behind each row's copy.
 */
function gatherRows(data: Float64Array, width: number, order: Int32Array, start: number, rows: number, out: Float64Array): void {
  let touched = 0;
  for (let group = 0; group < rows; group += GATHER_AHEAD) {
    const end = Math.min(rows, group + GATHER_AHEAD);
    for (let r = group; r < end; r++) touched += data[order[start + r] * width];
    for (let r = group; r < end; r++) {
      const from = order[start + r] * width;
      const to = r * width;
      for (let j = 0; j < width; j++) out[to + j] = data[from + j];
    }
  }
  readAhead = touched;
}

/** The network's outputs for every row of X, in batches to bound memory. */
export function predictOutputs(s: NetworkState, hidden: Activation, X: Matrix): Float64Array {
  const sizes = s.network.sizes;
  const width = sizes[sizes.length - 1];
  const chunk = Math.min(X.rows, 4096);
  const acts = layerBuffers(sizes, chunk);
  const out = new Float64Array(X.rows * width);
  for (let start = 0; start < X.rows; start += chunk) {
    const rows = Math.min(chunk, X.rows - start);
    acts[0].set(X.data.subarray(start * X.cols, (start + rows) * X.cols));
    forward(s.network, hidden, s.output, acts, rows);
    out.set(acts[acts.length - 1].subarray(0, rows * width), start * width);
  }
  return out;
}
