import { LOWER_IS_BETTER_METRICS, SCORE_METRICS } from "@kiln/contracts";
import type { JobData, JobHandle, JobOptions, JobSpec, Metrics, Runtime } from "./runtime.js";
import { jobError } from "./job-summaries.js";

/** How `gridSearch` fits and ranks. */
export interface GridSearchOptions extends Omit<JobOptions, "params" | "output" | "keep" | "requestId" | "onUploadProgress"> {
  /** Estimator param → the values to try; every combination is fitted (sklearn's ParameterGrid). */
  grid: Record<string, readonly unknown[]>;
  /** Params every fit takes besides the grid's. */
  params?: Record<string, unknown>;
  /** Held-out data each fit is scored on, [X, Y] (default: the training data). */
  scoreOn?: readonly [JobData, JobData?];
  /** The score metric to rank by (default: accuracy for classifiers, r2 for regressors, else the first). */
  metric?: string;
  /** Rank the lowest first (default: only for mse, mae and inertia). */
  lowerIsBetter?: boolean;
  /** Called as candidates are scored: how many of how many. */
  onProgress?: (done: number, total: number) => void;
}

/** One combination of the grid: its fit and its score. */
export interface GridCandidate {
  params: Record<string, unknown>;
  fit: JobHandle;
  score: JobHandle;
  /** The version its fit made (when it succeeded). */
  modelVersion?: string;
  /** Its score's metrics (when both jobs succeeded). */
  metrics?: Metrics;
  /** Why it has no score: its fit's error (a param value the estimator refuses, say), or its score's. */
  error?: Error;
}

export interface GridSearchResult {
  /** The candidate with the best score. */
  best: GridCandidate & { modelVersion: string; metrics: Metrics };
  /** Every candidate, in the grid's order. */
  candidates: GridCandidate[];
  /** Every candidate, best first; those without a score last, in the grid's order. */
  ranked: GridCandidate[];
  /** The metric they were ranked by, and which way. */
  metric: string;
  lowerIsBetter: boolean;
}

/** Combinations a grid search may fit. */
export const MAX_GRID = 10_000;
/** Candidates waited on at once (each wait is a stream). */
const WAITS = 32;
const LOWER_IS_BETTER = new Set(LOWER_IS_BETTER_METRICS);

/** Every combination of the grid's values, the first param varying slowest. */
export function paramGrid(grid: Record<string, readonly unknown[]>): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const [name, values] of Object.entries(grid)) {
    if (!Array.isArray(values) || values.length === 0) throw new TypeError(`grid.${name} must be a non-empty array of values to try`);
    combos = combos.flatMap((combo) => values.map((value) => ({ ...combo, [name]: value })));
    if (combos.length > MAX_GRID) throw new RangeError(`the grid has more than ${MAX_GRID} combinations`);
  }
  return combos;
}

/**
 * Fits the model once per combination of the grid (all submitted at once, each fit a new
 * version, as many at a time as executors have slots), scores each fit's version on the
 * held-out data (a score after its fit, so it runs that fit's version; each pair submitted
 * in one call, so a refused score leaves no fit), and ranks them.
 * X and Y are datasets (put local data first): every fit reads them.
 */
export async function gridSearch(runtime: Runtime, ref: string, X: JobData, Y: JobData | undefined, options: GridSearchOptions): Promise<GridSearchResult> {
  for (const data of [X, Y, ...(options.scoreOn ?? [])]) {
    if (data !== undefined && typeof data !== "string" && !(typeof data === "object" && data !== null && "dataset" in data)) {
      throw new TypeError("a grid search reads datasets, every fit and score the same ones: put local data with kiln.datasets.put first");
    }
  }
  const combos = paramGrid(options.grid);
  const { grid: _grid, params, scoreOn, metric: _metric, lowerIsBetter: _lower, onProgress, ...jobOptions } = options;
  // The model without a version: "latest" after a fit means the version that fit made.
  const model = ref.replace(/\/versions\/[^/]+$/, "");
  const [scoreX, scoreY] = scoreOn ?? [X, Y];
  // Each fit and the score after it side by side, so a call (1,000 jobs) holds whole pairs: all or none.
  const paramsOf = combos.map((combo) => ({ ...params, ...combo }));
  const specs = paramsOf.flatMap((fitParams, i): JobSpec[] => [
    { ...jobOptions, kind: "fit", model: ref, x: X, y: Y, params: fitParams },
    // A metric named is asked of each score (f1, roc_auc… are not among a score's defaults; a clusterer's score and inertia always are).
    { ...jobOptions, kind: "score", model, x: scoreX, y: scoreY, after: 2 * i, ...(options.metric && SCORE_METRICS.includes(options.metric) && { params: { metrics: [options.metric] } }) },
  ]);
  const handles = await runtime.submitMany(specs);
  const fits = handles.filter((_, i) => i % 2 === 0);
  const scores = handles.filter((_, i) => i % 2 === 1);

  const candidates: GridCandidate[] = paramsOf.map((fitParams, i) => ({ params: fitParams, fit: fits[i]!, score: scores[i]! }));
  let done = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(WAITS, candidates.length) }, async () => {
      while (next < candidates.length) {
        await settle(candidates[next++]!);
        onProgress?.(++done, candidates.length);
      }
    }),
  );
  return rank(candidates, options);
}

async function settle(candidate: GridCandidate): Promise<void> {
  try {
    candidate.metrics = (await candidate.score.wait()).result?.metrics ?? {};
  } catch (e) {
    candidate.error = e as Error;
  }
  const fit = await candidate.fit.info();
  candidate.modelVersion = fit.result?.modelVersion || undefined;
  if (fit.state === "failed" || fit.state === "cancelled") candidate.error = jobError(fit);
}

function rank(candidates: GridCandidate[], options: GridSearchOptions): GridSearchResult {
  const scored = candidates.filter((c) => c.metrics && c.modelVersion);
  if (scored.length === 0) throw candidates[0]!.error ?? new Error("no candidate of the grid search was scored");
  const metric = options.metric ?? ["accuracy", "r2"].find((m) => m in scored[0]!.metrics!) ?? Object.keys(scored[0]!.metrics!)[0];
  if (metric === undefined || !scored.some((c) => metric in c.metrics!)) {
    throw new TypeError(`the scores have no metric ${metric ?? ""}: they have ${Object.keys(scored[0]!.metrics!).join(", ")}`);
  }
  const lowerIsBetter = options.lowerIsBetter ?? LOWER_IS_BETTER.has(metric);
  const value = (c: GridCandidate) => (c.modelVersion ? c.metrics?.[metric] : undefined) ?? NaN;
  // A stable sort: ties, and the candidates without a score, keep the grid's order.
  const ranked = [...candidates].sort((a, b) => (better(value(a), value(b), lowerIsBetter) ? -1 : better(value(b), value(a), lowerIsBetter) ? 1 : 0));
  const best = ranked.find((c) => scored.includes(c))!;
  return { best: best as GridSearchResult["best"], candidates, ranked, metric, lowerIsBetter };
}

/** Whether `a` ranks before `b`; NaN ranks last. */
function better(a: number, b: number, lowerIsBetter: boolean): boolean {
  if (Number.isNaN(a)) return false;
  if (Number.isNaN(b)) return true;
  return lowerIsBetter ? a < b : a > b;
}
