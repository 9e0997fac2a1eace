import type { Random } from "../random.js";
import type { NormalEquations } from "./normal-equations.js";

export interface CoordinateDescentOptions {
  /** sklearn's alpha: the objective is ‖y − Xw‖²/(2n) + alpha·‖w‖₁. */
  alpha: number;
  maxIter: number;
  tol: number;
  positive: boolean;
  /** Visits features in order, or picks one at random at each step (sklearn's selection="random"). */
  random?: Random;
  start?: Float64Array;
}

/**
 * sklearn's Lasso coordinate descent on the Gram matrix (its enet_coordinate_descent_gram):
 * the same iterates as the residual form, at k² per sweep instead of n·k. It stops when
 * the largest coefficient change is below tol × the largest coefficient and the duality
 * gap is below tol × ‖y‖², as sklearn does.
 */
export function lassoCoordinateDescent(ne: NormalEquations, o: CoordinateDescentOptions): { coef: Float64Array; nIter: number; dualGap: number } {
  const { k, gram, xty: q, yty } = ne;
  const alpha = o.alpha * ne.n;
  const gapTol = o.tol * yty;
  const w = o.start ? o.start.slice() : new Float64Array(k);
  const hw = new Float64Array(k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) hw[i] += gram[i * k + j] * w[j];
  let gap = Infinity;
  let iter = 0;
  while (iter < o.maxIter) {
    iter++;
    let wMax = 0;
    let dwMax = 0;
    for (let step = 0; step < k; step++) {
      const i = o.random ? o.random.int(k) : step;
      const hii = gram[i * k + i];
      if (hii === 0) continue;
      const old = w[i];
      if (old !== 0) for (let j = 0; j < k; j++) hw[j] -= old * gram[i * k + j];
      const tmp = q[i] - hw[i];
      const next = o.positive && tmp < 0 ? 0 : (Math.sign(tmp) * Math.max(Math.abs(tmp) - alpha, 0)) / hii;
      w[i] = next;
      if (next !== 0) for (let j = 0; j < k; j++) hw[j] += next * gram[i * k + j];
      dwMax = Math.max(dwMax, Math.abs(next - old));
      wMax = Math.max(wMax, Math.abs(next));
    }
    if (wMax === 0 || dwMax / wMax < o.tol || iter === o.maxIter) {
      gap = dualityGap(w, hw, q, yty, alpha, o.positive);
      if (gap <= gapTol) break;
    }
  }
  return { coef: w, nIter: iter, dualGap: gap / ne.n };
}

function dualityGap(w: Float64Array, hw: Float64Array, q: Float64Array, yty: number, alpha: number, positive: boolean): number {
  let dualNorm = 0;
  let qw = 0;
  let whw = 0;
  let l1 = 0;
  for (let i = 0; i < w.length; i++) {
    const xta = q[i] - hw[i];
    dualNorm = Math.max(dualNorm, positive ? xta : Math.abs(xta));
    qw += q[i] * w[i];
    whw += w[i] * hw[i];
    l1 += Math.abs(w[i]);
  }
  const residual = Math.max(0, yty + whw - 2 * qw);
  let gap: number;
  let scale = 1;
  if (dualNorm > alpha) {
    scale = alpha / dualNorm;
    gap = 0.5 * (residual + residual * scale * scale);
  } else {
    gap = residual;
  }
  return gap + alpha * l1 - scale * (yty - qw);
}
