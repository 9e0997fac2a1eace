import type { TreeReading } from "./tree-ensemble.js";
import { treeSums } from "./tree-shap.js";

// A model's output columns from its tree ensemble's sums and values, as TreeReading says the graph makes them.

/** [rows, columns]: each output column's margin, sign × its target's sum (`sums` is treeSums'). */
export function treeMargins(reading: TreeReading, sums: Float64Array, count: number): Float64Array {
  const k = reading.ensemble.targets;
  const c = reading.target.length;
  const out = new Float64Array(count * c);
  for (let i = 0; i < count; i++) for (let o = 0; o < c; o++) out[i * c + o] = reading.sign[o]! * sums[i * k + reading.target[o]!]!;
  return out;
}

/** [rows, columns]: the output as the model makes it from the margins, by its link. */
export function treeOutputs(reading: TreeReading, margins: Float64Array, count: number): Float64Array {
  const c = reading.target.length;
  const out = new Float64Array(margins.length);
  for (let i = 0; i < count; i++) {
    const row = margins.subarray(i * c, (i + 1) * c);
    const top = Math.max(...row);
    const total = row.reduce((s, v) => s + Math.exp(v - top), 0);
    for (let o = 0; o < c; o++) {
      out[i * c + o] = reading.link === "identity" ? row[o]! : reading.link === "logistic" ? 1 / (1 + Math.exp(-row[o]!)) : Math.exp(row[o]! - top) / total;
    }
  }
  return out;
}

/** [rows, width, columns]: treeShap's values ([rows, width, targets]) for each output column, sign × its target's. */
export function treeColumnValues(reading: TreeReading, values: Float64Array): Float64Array {
  const k = reading.ensemble.targets;
  const c = reading.target.length;
  const cells = values.length / k;
  const out = new Float64Array(cells * c);
  for (let at = 0; at < cells; at++) for (let o = 0; o < c; o++) out[at * c + o] = reading.sign[o]! * values[at * k + reading.target[o]!]!;
  return out;
}

/** [columns]: the mean margin of each output column over `count` rows ([count, width], as the model takes them). */
export function treeBase(reading: TreeReading, rows: Float64Array, count: number, width: number, sums = treeSums(reading.ensemble, rows, count, width)): Float64Array {
  const c = reading.target.length;
  const base = new Float64Array(c);
  treeMargins(reading, sums, count).forEach((v, at) => (base[at % c]! += v / count));
  return base;
}
