/**
 * How a tree scores a candidate split. Every node, histogram bin and side of a split is summarised by
 * `stride` numbers: the row count first, then the criterion's own sums (class weights, or gradient
 * and hessian). A split's gain is score(left) + score(right) - score(node), higher is better.
 */
export interface Criterion {
  readonly stride: number;
  /** Numbers per leaf: class probabilities, or one output value. */
  readonly width: number;
  /** Adds rows idx[start..end) to feature f's histogram at hist[offset..] (bins × stride); bins are row-major, `cols` per row. */
  fillHistogram(bins: Uint8Array, cols: number, f: number, idx: Int32Array, start: number, end: number, hist: Float64Array, offset: number): void;
  /** The same for every feature at once, feature f's histogram at hist[f · featureStride..]. */
  fillHistograms(bins: Uint8Array, cols: number, idx: Int32Array, start: number, end: number, hist: Float64Array, featureStride: number): void;
  /** Adds one row's sums to s[at..at + stride). */
  addRow(row: number, s: Float64Array, at: number): void;
  score(s: Float64Array, at: number): number;
  /** Whether a side may become a child (e.g. enough hessian); the row count is checked by the grower. */
  admits(s: Float64Array, at: number): boolean;
  /** A node nothing can improve (one class, one target value). */
  isPure(s: Float64Array, at: number): boolean;
  leafValue(s: Float64Array, at: number, out: number[]): void;
}
