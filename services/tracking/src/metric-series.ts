import { parseFilter } from "@kiln/data";
import { EVENT_VALUE_TYPES } from "@kiln/storage";
import type { TrackingDeps } from "./deps.js";

/**
 * One metric's points in a run, in step order (logging order within a step), as columns:
 * a million points are four typed arrays, not a million objects.
 */
export interface MetricSeries {
  length: number;
  step: Float64Array;
  /** Milliseconds since the epoch. */
  dt: Float64Array;
  /** NaN where the event's value is not a number (numeric says which). */
  value: Float64Array;
  /** 1 where the event's value is a number. */
  numeric: Uint8Array;
}

export async function metricSeries(deps: TrackingDeps, experiment: string, run: number, key: string): Promise<MetricSeries> {
  let series = emptySeries(1024);
  let n = 0;
  let sorted = true;
  const filter = parseFilter(`event = "metric" AND key = ${JSON.stringify(key)}`);
  for await (const page of deps.events.query({ experiment, runs: { runs: [run] }, filter })) {
    if (n + page.length > series.step.length) series = grown(series, n, Math.max(2 * series.step.length, n + page.length));
    const { step, dt, value, numeric } = series;
    for (let i = 0; i < page.length; i++, n++) {
      step[n] = page.step[i]!;
      if (n > 0 && step[n]! < step[n - 1]!) sorted = false;
      dt[n] = page.dt[i]!;
      const isNumber = EVENT_VALUE_TYPES[page.valueType[i]!] === "number";
      value[n] = isNumber ? page.number[i]! : NaN;
      numeric[n] = isNumber ? 1 : 0;
    }
  }
  series.length = n;
  return sorted ? series : inStepOrder(series);
}

function emptySeries(capacity: number): MetricSeries {
  return { length: 0, step: new Float64Array(capacity), dt: new Float64Array(capacity), value: new Float64Array(capacity), numeric: new Uint8Array(capacity) };
}

function grown(series: MetricSeries, used: number, capacity: number): MetricSeries {
  const next = emptySeries(capacity);
  next.step.set(series.step.subarray(0, used));
  next.dt.set(series.dt.subarray(0, used));
  next.value.set(series.value.subarray(0, used));
  next.numeric.set(series.numeric.subarray(0, used));
  return next;
}

/** The series sorted by step, stably (points logged out of step order are rare: most loops count up). */
function inStepOrder(series: MetricSeries): MetricSeries {
  const order = Array.from({ length: series.length }, (_, i) => i).sort((a, b) => series.step[a]! - series.step[b]!);
  const out = emptySeries(series.length);
  out.length = series.length;
  order.forEach((from, to) => {
    out.step[to] = series.step[from]!;
    out.dt[to] = series.dt[from]!;
    out.value[to] = series.value[from]!;
    out.numeric[to] = series.numeric[from]!;
  });
  return out;
}

/**
 * Which points to draw, at most `maxPoints` (indices in step order): undefined (every point)
 * when there are no more, else Largest-Triangle-Three-Buckets over the points with finite
 * values: the first and the last, and from each of maxPoints - 2 equal buckets between
 * them the point making the largest triangle with the point kept before it and the mean of
 * the next bucket. It keeps a loss curve's spikes and plateaus, which every-nth-point
 * sampling drops.
 */
export function sampledPoints(series: MetricSeries, maxPoints: number): number[] | undefined {
  if (maxPoints <= 0 || series.length <= maxPoints) return undefined;
  const finite: number[] = [];
  for (let i = 0; i < series.length; i++) if (Number.isFinite(series.value[i])) finite.push(i);
  if (finite.length <= maxPoints) return finite;
  if (maxPoints === 1) return [finite.at(-1)!];
  const x = (k: number) => series.step[finite[k]!]!;
  const y = (k: number) => series.value[finite[k]!]!;
  const kept = [0];
  const buckets = maxPoints - 2;
  const width = (finite.length - 2) / buckets;
  const bucketStart = (b: number) => Math.floor(b * width) + 1;
  for (let b = 0; b < buckets; b++) {
    const [from, to] = [bucketStart(b), bucketStart(b + 1)];
    // The next bucket's mean (the last point, after the last bucket).
    const [nextFrom, nextTo] = b + 1 < buckets ? [to, bucketStart(b + 2)] : [finite.length - 1, finite.length];
    let meanX = 0;
    let meanY = 0;
    for (let k = nextFrom; k < nextTo; k++) (meanX += x(k)), (meanY += y(k));
    meanX /= nextTo - nextFrom;
    meanY /= nextTo - nextFrom;
    const a = kept[kept.length - 1]!;
    let best = from;
    let bestArea = -1;
    for (let k = from; k < to; k++) {
      const area = Math.abs((x(a) - meanX) * (y(k) - y(a)) - (x(a) - x(k)) * (meanY - y(a)));
      if (area > bestArea) (bestArea = area), (best = k);
    }
    kept.push(best);
  }
  kept.push(finite.length - 1);
  return kept.map((k) => finite[k]!);
}
