import type { Matrix } from "../matrix.js";
import { addScaled, dot } from "./kernels.js";
import type { SgdLoss } from "./sgd-losses.js";

export type LearningRate = "constant" | "optimal" | "invscaling" | "adaptive";

export interface SgdSettings {
  loss: SgdLoss;
  alpha: number;
  penalty: "l2" | null;
  fitIntercept: boolean;
  learningRate: LearningRate;
  eta0: number;
  powerT: number;
}

// sklearn clips the loss derivative so one outlier cannot blow the weights up.
const MAX_DLOSS = 1e12;

/** sklearn's t₀ for the "optimal" schedule (Bottou's heuristic): the first step is about 1/sqrt(alpha)^(1/2). */
export function optimalInit(s: SgdSettings): number {
  const typw = Math.sqrt(1 / Math.sqrt(s.alpha));
  const initialEta0 = typw / Math.max(1, s.loss.dloss(-typw, 1));
  return 1 / (initialEta0 * s.alpha);
}

/** t^p; V8's Math.pow took two thirds of an epoch's time, the square roots for sklearn's default p = 0.25 (and 0.5) are single instructions. */
function power(t: number, p: number): number {
  if (p === 0.25) return Math.sqrt(Math.sqrt(t));
  if (p === 0.5) return Math.sqrt(t);
  return Math.pow(t, p);
}

/**
 * One pass of sklearn's plain SGD over the rows in `order`, updating `coef` (one output's
 * weights) and `intercept[slot]` in place. `t` counts samples seen before, from 1; `eta`
 * is the current rate for "constant"/"adaptive". Returns the summed loss of the pass,
 * each sample's loss taken before its update, as sklearn's stopping rule uses.
 */
export function sgdEpoch(
  m: Matrix,
  y: Float64Array,
  order: Int32Array,
  coef: Float64Array,
  intercept: Float64Array,
  slot: number,
  t: number,
  eta: number,
  s: SgdSettings,
): number {
  const { cols: k, data } = m;
  const init = s.learningRate === "optimal" ? optimalInit(s) : 0;
  const { loss, dloss } = s.loss;
  const schedule = s.learningRate === "optimal" ? 0 : s.learningRate === "invscaling" ? 1 : 2;
  const shrinks = s.penalty === "l2";
  let b = intercept[slot];
  // The L2 shrink multiplies every weight each step; keeping w = scale·v makes that O(1), as sklearn's WeightVector.
  let scale = 1;
  let sumLoss = 0;
  for (let i = 0; i < order.length; i++, t++) {
    const r = order[i];
    const o = r * k;
    const rate = schedule === 0 ? 1 / (s.alpha * (init + t - 1)) : schedule === 1 ? s.eta0 / power(t, s.powerT) : eta;
    const p = scale * dot(coef, 0, data, o, k) + b;
    const target = y[r];
    sumLoss += loss(p, target);
    const update = -rate * Math.min(MAX_DLOSS, Math.max(-MAX_DLOSS, dloss(p, target)));
    if (shrinks) {
      scale *= Math.max(0, 1 - rate * s.alpha);
      if (scale < 1e-9) {
        for (let j = 0; j < k; j++) coef[j] *= scale;
        scale = 1;
      }
    }
    if (update !== 0) {
      addScaled(coef, data, o, k, update / scale);
      if (s.fitIntercept) b += update;
    }
  }
  for (let j = 0; j < k; j++) coef[j] *= scale;
  intercept[slot] = b;
  return sumLoss;
}
