import { MLError } from "../errors.js";
import type { TrainingCallback } from "../estimator.js";
import type { Matrix } from "../matrix.js";
import { Random, indices } from "../random.js";
import { sgdEpoch, type SgdSettings } from "./sgd-epoch.js";

export interface SgdRun {
  /** One target vector per output (±1 per class one-vs-rest, or regression targets). */
  targets: Float64Array[];
  /** outputs × k, updated in place. */
  coef: Float64Array;
  intercept: Float64Array;
  settings: SgdSettings;
  /** Samples seen before this run, from 1 (sklearn's t_). */
  t: number;
  /** Epochs run before this one over the estimator's life: shuffles never repeat across partialFit calls. */
  epochsBefore: number;
  seed: number;
  shuffle: boolean;
  maxEpochs: number;
  /** sklearn's stopping rule: stop after nIterNoChange epochs whose loss did not improve on the best by tol·n; null never stops early. */
  tol: number | null;
  nIterNoChange: number;
  onEpoch?: TrainingCallback;
}

/**
 * Runs SGD epochs for every output in lockstep; each output (a one-vs-rest binary problem)
 * stops on its own rule, as if trained alone as sklearn does. onEpoch gets the mean
 * per-sample loss over outputs (an output that stopped keeps its last loss).
 * Returns the epochs run (sklearn's n_iter_) and the samples seen.
 */
export function runSgd(m: Matrix, run: SgdRun): { epochs: number; t: number } {
  const n = m.rows;
  const k = m.cols;
  const outputs = run.targets.length;
  const best = new Float64Array(outputs).fill(Infinity);
  const lastLoss = new Float64Array(outputs);
  const stale = new Int32Array(outputs);
  const eta = new Float64Array(outputs).fill(run.settings.eta0);
  const active = new Uint8Array(outputs).fill(1);
  let epochs = 0;
  while (epochs < run.maxEpochs && active.includes(1)) {
    const epoch = run.epochsBefore + epochs;
    for (let c = 0; c < outputs; c++) {
      if (!active[c]) continue;
      const order = run.shuffle ? new Random(shuffleSeed(run.seed, c, epoch)).permutation(n) : indices(n);
      const coef = run.coef.subarray(c * k, (c + 1) * k);
      const sumLoss = sgdEpoch(m, run.targets[c], order, coef, run.intercept, c, run.t, eta[c], run.settings);
      if (!Number.isFinite(run.intercept[c]) || !coef.every(Number.isFinite)) {
        throw new MLError(`SGD diverged at epoch ${epoch + 1}: scale X (StandardScaler) or lower the learning rate (eta0)`, "DIVERGED");
      }
      lastLoss[c] = sumLoss / n;
      if (run.tol === null) continue;
      stale[c] = sumLoss > best[c] - run.tol * n ? stale[c] + 1 : 0;
      best[c] = Math.min(best[c], sumLoss);
      if (stale[c] >= run.nIterNoChange) {
        if (run.settings.learningRate === "adaptive" && eta[c] > 1e-6) {
          eta[c] /= 5;
          stale[c] = 0;
        } else {
          active[c] = 0;
        }
      }
    }
    epochs++;
    run.t += n;
    run.onEpoch?.({ epoch: epoch + 1, loss: lastLoss.reduce((a, b) => a + b, 0) / outputs });
  }
  return { epochs, t: run.t };
}

function shuffleSeed(seed: number, output: number, epoch: number): number {
  return (seed ^ Math.imul(output + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca77)) >>> 0;
}
