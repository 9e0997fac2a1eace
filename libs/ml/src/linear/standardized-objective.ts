import type { Matrix } from "../matrix.js";
import type { Objective } from "./lbfgs.js";

/**
 * The same objective seen in standardized coordinates, w′ⱼ = wⱼ·sⱼ and b′ = b + Σ wⱼ·μⱼ:
 * the minimiser is unchanged, but quasi-Newton steps no longer crawl along badly scaled
 * features (raw iris takes sklearn's lbfgs over 100 iterations; standardized it takes ~20).
 * Parameters are outputs × k weights followed by the intercepts when fitted.
 */
export function standardized(
  objective: Objective,
  m: Matrix,
  outputs: number,
  fitIntercept: boolean,
): { objective: Objective; toOriginal(x: Float64Array): Float64Array; fromOriginal(x: Float64Array): Float64Array } {
  const { mean, scale } = columnScales(m, fitIntercept);
  const k = m.cols;
  const bias = outputs * k;
  const original = new Float64Array(bias + (fitIntercept ? outputs : 0));
  const toOriginal = (x: Float64Array, out = new Float64Array(original.length)) => {
    for (let c = 0; c < outputs; c++) {
      let shift = 0;
      for (let j = 0; j < k; j++) {
        const w = x[c * k + j] / scale[j];
        out[c * k + j] = w;
        shift += w * mean[j];
      }
      if (fitIntercept) out[bias + c] = x[bias + c] - shift;
    }
    return out;
  };
  const fromOriginal = (x: Float64Array) => {
    const out = new Float64Array(x.length);
    for (let c = 0; c < outputs; c++) {
      let shift = 0;
      for (let j = 0; j < k; j++) {
        out[c * k + j] = x[c * k + j] * scale[j];
        shift += x[c * k + j] * mean[j];
      }
      if (fitIntercept) out[bias + c] = x[bias + c] + shift;
    }
    return out;
  };
  const objective2: Objective = (x, grad) => {
    const value = objective(toOriginal(x, original), grad);
    for (let c = 0; c < outputs; c++) {
      const gb = fitIntercept ? grad[bias + c] : 0;
      for (let j = 0; j < k; j++) grad[c * k + j] = (grad[c * k + j] - gb * mean[j]) / scale[j];
    }
    return value;
  };
  return { objective: objective2, toOriginal: (x) => toOriginal(x), fromOriginal };
}

function columnScales(m: Matrix, center: boolean): { mean: Float64Array; scale: Float64Array } {
  const { rows: n, cols: k, data } = m;
  const mean = new Float64Array(k);
  const scale = new Float64Array(k);
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) mean[j] += data[r * k + j];
  for (let j = 0; j < k; j++) mean[j] /= n;
  for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) scale[j] += (data[r * k + j] - mean[j]) ** 2;
  for (let j = 0; j < k; j++) {
    // Without an intercept there is nothing to absorb a shift, so only rescale (by the root mean square).
    const spread = center ? Math.sqrt(scale[j] / n) : Math.sqrt(scale[j] / n + mean[j] * mean[j]);
    scale[j] = spread > 0 ? spread : 1;
    if (!center) mean[j] = 0;
  }
  return { mean, scale };
}
