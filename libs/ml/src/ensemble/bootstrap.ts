import type { Random } from "../random.js";

/** A bootstrap sample as row weights (how often each row was drawn) and the rows drawn at least once. */
export function bootstrap(rows: number, draws: number, random: Random): { rows: Int32Array; weight: Float64Array } {
  const weight = new Float64Array(rows);
  for (let i = 0; i < draws; i++) weight[random.int(rows)] += 1;
  let k = 0;
  const drawn = new Int32Array(rows);
  for (let i = 0; i < rows; i++) if (weight[i] > 0) drawn[k++] = i;
  return { rows: drawn.slice(0, k), weight };
}

/** sklearn's max_samples: null for all rows, a count, or a fraction of them. */
export function drawsOf(maxSamples: number | null, rows: number): number {
  if (maxSamples === null) return rows;
  return maxSamples <= 1 ? Math.max(1, Math.round(maxSamples * rows)) : Math.min(rows, Math.floor(maxSamples));
}
