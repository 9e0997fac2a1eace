import type { Criterion } from "./criterion.js";

export type ClassificationImpurity = "gini" | "entropy" | "log_loss";

/** Gini or entropy over weighted class counts; leaves hold class probabilities. */
export class ClassificationCriterion implements Criterion {
  readonly stride: number;
  readonly width: number;

  constructor(
    private readonly impurity: ClassificationImpurity,
    private readonly y: Int32Array,
    private readonly nClasses: number,
    /** Per-row weights (bootstrap counts); null for all ones. */
    private readonly weight: Float64Array | null,
  ) {
    this.stride = nClasses + 1;
    this.width = nClasses;
  }

  fillHistogram(bins: Uint8Array, cols: number, f: number, idx: Int32Array, start: number, end: number, hist: Float64Array, offset: number): void {
    const { y, weight, stride } = this;
    for (let j = start; j < end; j++) {
      const i = idx[j];
      const at = offset + bins[i * cols + f] * stride;
      hist[at] += 1;
      hist[at + 1 + y[i]] += weight ? weight[i] : 1;
    }
  }

  fillHistograms(bins: Uint8Array, cols: number, idx: Int32Array, start: number, end: number, hist: Float64Array, featureStride: number): void {
    const { y, weight, stride } = this;
    for (let j = start; j < end; j++) {
      const i = idx[j];
      const w = weight ? weight[i] : 1;
      const base = i * cols;
      const klass = 1 + y[i];
      for (let f = 0, offset = 0; f < cols; f++, offset += featureStride) {
        const at = offset + bins[base + f] * stride;
        hist[at] += 1;
        hist[at + klass] += w;
      }
    }
  }

  addRow(row: number, s: Float64Array, at: number): void {
    s[at] += 1;
    s[at + 1 + this.y[row]] += this.weight ? this.weight[row] : 1;
  }

  // Proxies that rank splits like weighted impurity decrease: gini W·(1 - Σp²) → -Σc²/W; entropy W·H → Σc·ln c - W·ln W.
  score(s: Float64Array, at: number): number {
    const k = this.nClasses;
    let total = 0;
    let sum = 0;
    if (this.impurity === "gini") {
      for (let c = 1; c <= k; c++) {
        const v = s[at + c];
        total += v;
        sum += v * v;
      }
      return total > 0 ? sum / total : 0;
    }
    for (let c = 1; c <= k; c++) {
      const v = s[at + c];
      total += v;
      if (v > 0) sum += v * Math.log(v);
    }
    return total > 0 ? sum - total * Math.log(total) : 0;
  }

  admits(): boolean {
    return true;
  }

  isPure(s: Float64Array, at: number): boolean {
    let present = 0;
    for (let c = 1; c <= this.nClasses; c++) if (s[at + c] > 0) present++;
    return present <= 1;
  }

  leafValue(s: Float64Array, at: number, out: number[]): void {
    let total = 0;
    for (let c = 1; c <= this.nClasses; c++) total += s[at + c];
    for (let c = 1; c <= this.nClasses; c++) out.push(s[at + c] / total);
  }
}
