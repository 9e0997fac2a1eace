import type { TreeReading } from "./tree-ensemble.js";
import { treeSums } from "./tree-shap.js";

// A model's output columns from its tree ensemble's sums and values, as TreeReading says the graph makes them.

/**
 * [..., columns] from [..., targets]: each output column's share, sign × its target's. Of
 * treeSums' sums, the columns' margins; of treeShap's values, the columns' values.
 */
export function treeColumns(reading: TreeReading, perTarget: Float64Array): Float64Array {
  const k = reading.ensemble.targets;
  const c = reading.target.length;
  const cells = perTarget.length / k;
  const out = new Float64Array(cells * c);
  for (let at = 0; at < cells; at++) for (let o = 0; o < c; o++) out[at * c + o] = reading.sign[o]! * perTarget[at * k + reading.target[o]!]!;
  return out;
}

/** [rows, columns]: the output as the model makes it from the margins ([rows, columns]), by its link. */
export function treeOutputs(reading: TreeReading, margins: Float64Array): Float64Array {
  const c = reading.target.length;
  const out = new Float64Array(margins.length);
  for (let at = 0; at < margins.length; at += c) {
    const row = margins.subarray(at, at + c);
    const top = Math.max(...row);
    const total = row.reduce((s, v) => s + Math.exp(v - top), 0);
    for (let o = 0; o < c; o++) {
      out[at + o] = reading.link === "identity" ? row[o]! : reading.link === "logistic" ? 1 / (1 + Math.exp(-row[o]!)) : Math.exp(row[o]! - top) / total;
    }
  }
  return out;
}

/** Whether Shapley values of the ensemble are of the outputs themselves ("output") or of the margins a sigmoid or softmax makes them from. */
export function treeOutputSpace(reading: TreeReading): "output" | "margin" {
  return reading.link === "identity" ? "output" : "margin";
}

/** [columns]: the mean margin of each output column over `count` rows ([count, width], as the model takes them). */
export function treeBase(reading: TreeReading, rows: Float64Array, count: number, width: number, sums = treeSums(reading.ensemble, rows, count, width)): Float64Array {
  const c = reading.target.length;
  const base = new Float64Array(c);
  treeColumns(reading, sums).forEach((v, at) => (base[at % c]! += v / count));
  return base;
}
