import type { Criterion } from "./criterion.js";

/**
 * Second-order gain G²/(H + λ) from per-row gradients g and hessians h, as histogram gradient
 * boosting uses; the leaf value is offset - G/(H + λ). Squared-error regression is the case
 * g = -w·(y - offset), h = w: the gain is then the weighted decrease in squared error and the
 * leaf value the weighted mean. With `squares` (w·(y - offset)² per row) a node with no spread
 * in y is recognised as pure, which gain alone cannot tell from rounding noise. With
 * `unitHessian` (every h is 1) the row count is the hessian sum, and the histograms carry one
 * number less per bin (count, g[, squares]), as scikit-learn's constant-hessian losses do.
 */
export class GradientCriterion implements Criterion {
  readonly stride: number;
  readonly width = 1;
  /** Where a summary keeps its hessian sum (the count, with unit hessians) and its squares. */
  private readonly hAt: number;
  private readonly sAt: number;

  constructor(
    private readonly g: Float64Array,
    private readonly h: Float64Array,
    private readonly options: { l2?: number; minHessian?: number; offset?: number; squares?: Float64Array; unitHessian?: boolean } = {},
  ) {
    this.hAt = options.unitHessian ? 0 : 2;
    this.sAt = options.unitHessian ? 2 : 3;
    this.stride = this.sAt + (options.squares ? 1 : 0);
  }

  /** Squared-error regression on y with optional row weights. */
  static squaredError(y: Float64Array, rows: Int32Array, weight: Float64Array | null): GradientCriterion {
    let sw = 0;
    let swy = 0;
    for (const i of rows) {
      const w = weight ? weight[i] : 1;
      sw += w;
      swy += w * y[i];
    }
    const mean = sw > 0 ? swy / sw : 0;
    const g = new Float64Array(y.length);
    const h = new Float64Array(y.length);
    const squares = new Float64Array(y.length);
    for (const i of rows) {
      const w = weight ? weight[i] : 1;
      const r = y[i] - mean;
      g[i] = -w * r;
      h[i] = w;
      squares[i] = w * r * r;
    }
    return new GradientCriterion(g, h, { offset: mean, squares, unitHessian: weight === null });
  }

  fillHistogram(bins: Uint8Array, cols: number, f: number, idx: Int32Array, start: number, end: number, hist: Float64Array, offset: number): void {
    for (let j = start; j < end; j++) this.addRow(idx[j], hist, offset + bins[idx[j] * cols + f] * this.stride);
  }

  fillHistograms(bins: Uint8Array, cols: number, idx: Int32Array, start: number, end: number, hist: Float64Array, featureStride: number): void {
    const { g, h, stride, sAt } = this;
    const squares = this.options.squares;
    const unit = this.options.unitHessian === true;
    for (let j = start; j < end; j++) {
      const i = idx[j];
      const gi = g[i];
      const hi = h[i];
      const si = squares ? squares[i] : 0;
      const base = i * cols;
      for (let f = 0, offset = 0; f < cols; f++, offset += featureStride) {
        const at = offset + bins[base + f] * stride;
        hist[at] += 1;
        hist[at + 1] += gi;
        if (!unit) hist[at + 2] += hi;
        if (squares) hist[at + sAt] += si;
      }
    }
  }

  addRow(row: number, s: Float64Array, at: number): void {
    s[at] += 1;
    s[at + 1] += this.g[row];
    if (!this.options.unitHessian) s[at + 2] += this.h[row];
    if (this.options.squares) s[at + this.sAt] += this.options.squares[row];
  }

  score(s: Float64Array, at: number): number {
    const G = s[at + 1];
    const H = s[at + this.hAt] + (this.options.l2 ?? 0);
    return H > 0 ? (G * G) / H : 0;
  }

  admits(s: Float64Array, at: number): boolean {
    return s[at + this.hAt] >= (this.options.minHessian ?? 0) && s[at + this.hAt] > 0;
  }

  isPure(s: Float64Array, at: number): boolean {
    if (!this.options.squares) return false;
    const H = s[at + this.hAt];
    const mean = s[at + 1] / H;
    const variance = s[at + this.sAt] / H - mean * mean;
    return variance <= 1e-12 * Math.max(1, s[at + this.sAt] / H);
  }

  leafValue(s: Float64Array, at: number, out: number[]): void {
    const H = s[at + this.hAt] + (this.options.l2 ?? 0);
    out.push((this.options.offset ?? 0) - (H > 0 ? s[at + 1] / H : 0));
  }
}
