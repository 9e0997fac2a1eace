import type { ClassLabel } from "../labels.js";
import type { Matrix } from "../matrix.js";

/** Index of each row's largest value (the first on ties, as numpy's argmax). */
export function argmaxRows(m: Matrix): Int32Array {
  const out = new Int32Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    let best = 0;
    for (let k = 1; k < m.cols; k++) if (m.data[r * m.cols + k] > m.data[r * m.cols + best]) best = k;
    out[r] = best;
  }
  return out;
}

export function labelsOf(index: Int32Array, classes: ClassLabel[]): ClassLabel[] {
  return Array.from(index, (k) => classes[k]);
}
