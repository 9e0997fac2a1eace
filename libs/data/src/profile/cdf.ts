import type { ColumnProfileData } from "./types.js";

/**
 * The share of a numeric column's present values at or below x: exact from its value counts
 * when the profile has all of them, else interpolated between its percentiles.
 */
export type Cdf = (x: number) => number;

export function cdfOf(column: ColumnProfileData): Cdf {
  if (column.count === 0) return () => 0;
  if (column.valuesComplete) {
    const points = column.values.map((v) => ({ x: Number(v.value), n: v.count })).sort((a, b) => a.x - b.x);
    const xs = points.map((p) => p.x);
    const cumulative: number[] = [];
    let total = 0;
    for (const p of points) cumulative.push((total += p.n));
    return (x) => {
      const i = lastAtOrBelow(xs, x);
      return i < 0 ? 0 : cumulative[i]! / total;
    };
  }
  const p = column.percentiles;
  const last = p.length - 1;
  return (x) => {
    if (x < p[0]!) return 0;
    if (x >= p[last]!) return 1;
    const i = lastAtOrBelow(p, x);
    const next = p[i + 1]!;
    const within = next > p[i]! ? (x - p[i]!) / (next - p[i]!) : 0;
    return (i + within) / last;
  };
}

/** Where a numeric column's CDF can change: its distinct values, or its percentiles. */
export function breakpointsOf(column: ColumnProfileData): number[] {
  return column.valuesComplete ? column.values.map((v) => Number(v.value)) : column.percentiles;
}

/** The index of the last element of sorted xs at or below x (-1 if none). */
function lastAtOrBelow(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (xs[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}
