import {
  accuracyScore,
  f1Score,
  logLoss,
  maxError,
  meanAbsoluteError,
  meanAbsolutePercentageError,
  meanSquaredError,
  precisionScore,
  r2Score,
  recallScore,
  rocAucScore,
  type Average,
  type ClassLabel,
} from "@kiln/ml";
import { CLASSIFIER_METRICS, REGRESSOR_METRICS } from "@kiln/contracts";
import { failedPrecondition } from "./job-failure.js";

/** What a SCORE job asked for: params.metrics, a list or "all"; none gives the defaults (accuracy; r2, mse, mae). */
export type WantedMetrics = readonly string[] | "all" | undefined;

const PROBABILITY_METRICS = new Set(["roc_auc", "log_loss"]);
/** MLflow evaluate's default classifier metrics: of the greater label for two classes, macro-averaged for more. */
const ALL_BINARY = ["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"];
const ALL_MULTICLASS = ["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss"];

export function wantedMetrics(params: Record<string, unknown>): WantedMetrics {
  const m = params.metrics;
  return m === "all" ? "all" : Array.isArray(m) ? (m as string[]) : undefined;
}

/** Whether the metrics read a classifier's probabilities (so the run fetches them too). */
export function needsProbabilities(wanted: WantedMetrics): boolean {
  return wanted === "all" || (wanted ?? []).some((m) => PROBABILITY_METRICS.has(m));
}

/** A classifier's probabilities, columns in `classes` order. */
export interface Probabilities {
  data: Float64Array;
  classes: ClassLabel[];
}

export function classifierMetrics(wanted: WantedMetrics, truth: ClassLabel[], predicted: ClassLabel[], probabilities?: Probabilities): Record<string, number> {
  if (wanted === undefined) return { accuracy: accuracyScore(truth, predicted) };
  // The model's classes; unknown (an uploaded graph without ZipMap or metadata), the labels seen, in sorted order as sklearn's.
  const classes = probabilities?.classes.length ? probabilities.classes : [...new Set([...truth, ...predicted])].sort(compareLabels);
  if (probabilities && !probabilities.classes.length) probabilities = { ...probabilities, classes };
  const binary = classes.length <= 2;
  const names = wanted === "all" ? (binary ? ALL_BINARY : ALL_MULTICLASS).filter((m) => probabilities || !PROBABILITY_METRICS.has(m)) : wanted;
  for (const name of names) {
    if (!(CLASSIFIER_METRICS as readonly string[]).includes(name)) throw notDefined(name, "a classifier", CLASSIFIER_METRICS);
  }
  const positive = [...classes].sort(compareLabels).at(-1);
  const averaged = (f: typeof f1Score, average: Average) => f(truth, predicted, average === "binary" ? { average, posLabel: positive } : { average });
  const metrics: Record<string, number> = {};
  for (const name of names) {
    const [base, how] = name.split("_") as [string, string | undefined];
    if (name === "accuracy") metrics[name] = accuracyScore(truth, predicted);
    else if (name === "roc_auc" || name === "log_loss") metrics[name] = probabilityMetric(name, truth, probabilities);
    else {
      const f = base === "precision" ? precisionScore : base === "recall" ? recallScore : f1Score;
      if (!how && !binary) throw failedPrecondition("METRIC_NOT_DEFINED", `${name} is of two classes' greater label; the model has ${classes.length} classes: ask for ${name}_macro or ${name}_weighted`);
      metrics[name] = averaged(f, (how as Average | undefined) ?? "binary");
    }
  }
  return metrics;
}

export function regressorMetrics(wanted: WantedMetrics, yTrue: number[], yPred: number[]): Record<string, number> {
  const names = wanted === undefined ? ["r2", "mse", "mae"] : wanted === "all" ? [...REGRESSOR_METRICS] : wanted;
  const metrics: Record<string, number> = {};
  for (const name of names) {
    switch (name) {
      case "r2":
        metrics[name] = r2Score(yTrue, yPred);
        break;
      case "mse":
        metrics[name] = meanSquaredError(yTrue, yPred);
        break;
      case "rmse":
        metrics[name] = Math.sqrt(meanSquaredError(yTrue, yPred));
        break;
      case "mae":
        metrics[name] = meanAbsoluteError(yTrue, yPred);
        break;
      case "max_error":
        metrics[name] = maxError(yTrue, yPred);
        break;
      case "mape":
        metrics[name] = meanAbsolutePercentageError(yTrue, yPred);
        break;
      default:
        throw notDefined(name, "a regressor", REGRESSOR_METRICS);
    }
  }
  return metrics;
}

function probabilityMetric(name: "roc_auc" | "log_loss", truth: ClassLabel[], probabilities: Probabilities | undefined): number {
  if (!probabilities) throw failedPrecondition("NO_PROBABILITIES", `${name} reads the model's probabilities, and it has none`);
  const { data, classes } = probabilities;
  const rows = truth.length;
  if (name === "log_loss") return logLoss(truth, { data, shape: [rows, classes.length] }, { labels: classes });
  // rocAucScore takes its columns in sorted label order.
  const order = classes.map((c, j) => [c, j] as const).sort((a, b) => compareLabels(a[0], b[0]));
  const sorted = new Float64Array(data.length);
  for (let i = 0; i < rows; i++) order.forEach(([, j], to) => (sorted[i * classes.length + to] = data[i * classes.length + j]!));
  return rocAucScore(truth, { data: sorted, shape: [rows, classes.length] });
}

function compareLabels(a: ClassLabel, b: ClassLabel): number {
  return typeof a === "number" && typeof b === "number" ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

function notDefined(name: string, what: string, known: readonly string[]) {
  return failedPrecondition("METRIC_NOT_DEFINED", `${name} is not a metric of ${what} (it has ${known.join(", ")})`);
}
