/** Mean, median, or the most frequent value (the smallest among ties, as sklearn) of observed values. */
export function columnStatistic(values: number[], strategy: "mean" | "median" | "most_frequent"): number {
  if (strategy === "mean") return values.reduce((a, b) => a + b, 0) / values.length;
  const sorted = Float64Array.from(values).sort();
  if (strategy === "median") {
    const mid = sorted.length >> 1;
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  }
  let best = sorted[0];
  let bestCount = 0;
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) j++;
    if (j - i > bestCount) (best = sorted[i]), (bestCount = j - i);
    i = j;
  }
  return best;
}
