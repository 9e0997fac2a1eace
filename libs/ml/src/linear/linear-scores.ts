import type { Matrix } from "../matrix.js";
import { dot } from "./kernels.js";

/** X·Wᵀ + b, n × outputs, for W kept row-major as outputs × k. */
export function linearScores(m: Matrix, coef: Float64Array, intercept: Float64Array): Float64Array {
  const { rows: n, cols: k, data } = m;
  const outputs = intercept.length;
  const out = new Float64Array(n * outputs);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < outputs; c++) out[r * outputs + c] = intercept[c] + dot(data, r * k, coef, c * k, k);
  }
  return out;
}
