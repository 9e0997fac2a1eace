import { InvalidInputError } from "./errors.js";
import { encodeClasses, toTargets, type ClassLabel, type LabelInput } from "./labels.js";
import { toMatrix, type Matrix, type MatrixInput } from "./matrix.js";

/** sklearn's `average`: one class ("binary", the posLabel), pooled counts ("micro"), or a mean over classes. */
export type Average = "binary" | "micro" | "macro" | "weighted";

export interface ClassificationMetricOptions {
  /** Default "binary". */
  average?: Average;
  /** The positive class for average "binary"; default 1. */
  posLabel?: ClassLabel;
}

export function accuracyScore(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = paired(yTrue, yPred);
  let hits = 0;
  for (let i = 0; i < t.length; i++) if (t[i] === p[i]) hits++;
  return hits / t.length;
}

export function precisionScore(yTrue: LabelInput, yPred: LabelInput, options: ClassificationMetricOptions = {}): number {
  return averaged(yTrue, yPred, options, (c) => ratio(c.tp, c.tp + c.fp));
}

export function recallScore(yTrue: LabelInput, yPred: LabelInput, options: ClassificationMetricOptions = {}): number {
  return averaged(yTrue, yPred, options, (c) => ratio(c.tp, c.tp + c.fn));
}

export function f1Score(yTrue: LabelInput, yPred: LabelInput, options: ClassificationMetricOptions = {}): number {
  return averaged(yTrue, yPred, options, (c) => ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn));
}

export interface ConfusionMatrix {
  labels: ClassLabel[];
  /** counts[i][j]: rows whose true label is labels[i] and predicted label is labels[j]. */
  counts: number[][];
}

export function confusionMatrix(yTrue: LabelInput, yPred: LabelInput, options: { labels?: ClassLabel[] } = {}): ConfusionMatrix {
  const [t, p] = paired(yTrue, yPred);
  const labels = options.labels ?? sortedLabels([...t, ...p]);
  const index = new Map(labels.map((l, i) => [l, i]));
  const counts = labels.map(() => labels.map(() => 0));
  for (let i = 0; i < t.length; i++) {
    const a = index.get(t[i]);
    const b = index.get(p[i]);
    if (a !== undefined && b !== undefined) counts[a][b]++;
  }
  return { labels, counts };
}

/**
 * Area under the ROC curve. Two classes: `yScore` is the score of the greater label (or a
 * two-column probability matrix). More classes: an n × classes matrix, columns in sorted
 * label order, averaged one-vs-rest ("macro" or "weighted" by prevalence).
 */
export function rocAucScore(yTrue: LabelInput, yScore: ArrayLike<number> | MatrixInput, options: { average?: "macro" | "weighted" } = {}): number {
  const t = labelsOf(yTrue);
  const classes = sortedLabels(t);
  if (classes.length < 2) throw new InvalidInputError("only one class present in yTrue; ROC AUC is not defined", "TOO_FEW_CLASSES");
  const scores = isMatrixInput(yScore) ? toMatrix(yScore) : column(yScore);
  checkRows(scores.rows, t.length, "yScore");
  if (classes.length === 2) {
    const c = scores.cols === 2 ? 1 : 0;
    if (scores.cols > 2) throw new InvalidInputError(`yTrue has 2 classes, yScore has ${scores.cols} columns`, "WRONG_WIDTH");
    return binaryAuc(t.map((l) => l === classes[1]), columnOf(scores, c));
  }
  if (scores.cols !== classes.length) throw new InvalidInputError(`yTrue has ${classes.length} classes, yScore has ${scores.cols} columns`, "WRONG_WIDTH");
  let total = 0;
  let weights = 0;
  classes.forEach((label, c) => {
    const positive = t.map((l) => l === label);
    const weight = options.average === "weighted" ? positive.filter(Boolean).length : 1;
    total += weight * binaryAuc(positive, columnOf(scores, c));
    weights += weight;
  });
  return total / weights;
}

/** Mean negative log-likelihood; `yProba` is n × classes (sorted label order) or, for two classes, P(greater label). */
export function logLoss(yTrue: LabelInput, yProba: ArrayLike<number> | MatrixInput, options: { labels?: ClassLabel[] } = {}): number {
  const t = labelsOf(yTrue);
  const labels = options.labels ?? sortedLabels(t);
  const m = isMatrixInput(yProba) ? toMatrix(yProba) : column(yProba);
  checkRows(m.rows, t.length, "yProba");
  const probabilities = m.cols === 1 ? twoColumns(m) : m;
  if (probabilities.cols !== labels.length) {
    throw new InvalidInputError(`yTrue has ${labels.length} classes (${labels.join(", ")}), yProba has ${probabilities.cols} columns`, "WRONG_WIDTH");
  }
  const index = new Map(labels.map((l, i) => [l, i]));
  const eps = Number.EPSILON;
  let total = 0;
  for (let r = 0; r < t.length; r++) {
    const c = index.get(t[r]);
    if (c === undefined) throw new InvalidInputError(`yTrue[${r}] is ${String(t[r])}, not one of the labels ${labels.join(", ")}`, "UNKNOWN_CLASS");
    const o = r * probabilities.cols;
    let sum = 0;
    for (let j = 0; j < probabilities.cols; j++) sum += clip(probabilities.data[o + j], eps);
    total -= Math.log(clip(probabilities.data[o + c], eps) / sum);
  }
  return total / t.length;
}

/** R²; a constant yTrue scores 1 when predicted exactly and 0 otherwise, as sklearn's force_finite. */
export function r2Score(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = targets(yTrue, yPred);
  let mean = 0;
  for (const v of t) mean += v;
  mean /= t.length;
  let residual = 0;
  let total = 0;
  for (let i = 0; i < t.length; i++) {
    residual += (t[i] - p[i]) ** 2;
    total += (t[i] - mean) ** 2;
  }
  if (total === 0) return residual === 0 ? 1 : 0;
  return 1 - residual / total;
}

export function meanSquaredError(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = targets(yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < t.length; i++) sum += (t[i] - p[i]) ** 2;
  return sum / t.length;
}

export function meanAbsoluteError(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = targets(yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < t.length; i++) sum += Math.abs(t[i] - p[i]);
  return sum / t.length;
}

/** The largest absolute error (sklearn's max_error). */
export function maxError(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = targets(yTrue, yPred);
  let max = 0;
  for (let i = 0; i < t.length; i++) max = Math.max(max, Math.abs(t[i] - p[i]));
  return max;
}

/** Mean of |error| / |truth|, a truth of 0 counting as the smallest double (sklearn's mean_absolute_percentage_error: a fraction, not percent). */
export function meanAbsolutePercentageError(yTrue: LabelInput, yPred: LabelInput): number {
  const [t, p] = targets(yTrue, yPred);
  let sum = 0;
  for (let i = 0; i < t.length; i++) sum += Math.abs(t[i] - p[i]) / Math.max(Math.abs(t[i]), Number.EPSILON);
  return sum / t.length;
}

// The order of `classes` on every classifier (numbers ascending, strings by code unit).
function sortedLabels(labels: ClassLabel[]): ClassLabel[] {
  return encodeClasses(labels, labels.length, { minClasses: 1 }).classes;
}

interface Counts {
  tp: number;
  fp: number;
  fn: number;
  support: number;
}

function averaged(yTrue: LabelInput, yPred: LabelInput, options: ClassificationMetricOptions, metric: (c: Counts) => number): number {
  const [t, p] = paired(yTrue, yPred);
  const average = options.average ?? "binary";
  const labels = sortedLabels([...t, ...p]);
  if (average === "binary") {
    const posLabel = options.posLabel ?? 1;
    if (labels.length > 2) throw new InvalidInputError(`y has ${labels.length} classes; average "binary" needs 2 (use "macro", "weighted" or "micro")`, "NOT_BINARY");
    if (labels.length === 2 && !labels.includes(posLabel)) {
      throw new InvalidInputError(`posLabel ${String(posLabel)} is not one of the labels ${labels.join(", ")}`, "UNKNOWN_CLASS");
    }
    return metric(countsFor(t, p, posLabel));
  }
  const perClass = labels.map((l) => countsFor(t, p, l));
  if (average === "micro") {
    return metric(perClass.reduce((a, c) => ({ tp: a.tp + c.tp, fp: a.fp + c.fp, fn: a.fn + c.fn, support: a.support + c.support })));
  }
  const weights = perClass.map((c) => (average === "weighted" ? c.support : 1));
  const total = weights.reduce((a, b) => a + b, 0);
  return total === 0 ? 0 : perClass.reduce((sum, c, i) => sum + weights[i] * metric(c), 0) / total;
}

function countsFor(t: ClassLabel[], p: ClassLabel[], label: ClassLabel): Counts {
  const c = { tp: 0, fp: 0, fn: 0, support: 0 };
  for (let i = 0; i < t.length; i++) {
    const isTrue = t[i] === label;
    const isPred = p[i] === label;
    if (isTrue) c.support++;
    if (isTrue && isPred) c.tp++;
    else if (isPred) c.fp++;
    else if (isTrue) c.fn++;
  }
  return c;
}

// sklearn's zero_division default: an undefined ratio (no predicted or no true positives) counts as 0.
function ratio(a: number, b: number): number {
  return b === 0 ? 0 : a / b;
}

/** Mann–Whitney U with average ranks for tied scores: exactly the trapezoidal area under the ROC curve. */
function binaryAuc(positive: boolean[], scores: Float64Array): number {
  const order = Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  let rankSum = 0;
  let nPos = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]] === scores[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let q = i; q <= j; q++) if (positive[order[q]]) (rankSum += rank), nPos++;
    i = j + 1;
  }
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) throw new InvalidInputError("only one class present in yTrue; ROC AUC is not defined", "TOO_FEW_CLASSES");
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

function labelsOf(y: LabelInput): ClassLabel[] {
  if (y.length === 0) throw new InvalidInputError("y is empty", "EMPTY_INPUT");
  return Array.from(y as ArrayLike<ClassLabel>);
}

/** What labels are, in words: numbers, strings, or both (which no classifier's classes are). */
export function labelType(labels: ArrayLike<ClassLabel>): "numbers" | "strings" | "numbers and strings" {
  let strings = 0;
  for (let i = 0; i < labels.length; i++) if (typeof labels[i] === "string") strings++;
  return strings === 0 ? "numbers" : strings === labels.length ? "strings" : "numbers and strings";
}

function paired(yTrue: LabelInput, yPred: LabelInput): [ClassLabel[], ClassLabel[]] {
  const t = labelsOf(yTrue);
  checkRows(yPred.length, t.length, "yPred");
  const p = Array.from(yPred as ArrayLike<ClassLabel>);
  // As sklearn: labels of two types never match, so the score would be a silent 0.
  const [tType, pType] = [labelType(t), labelType(p)];
  if (tType !== pType) throw new InvalidInputError(`yTrue holds ${tType} and yPred ${pType}: labels of one type are needed`, "MIXED_LABEL_TYPES");
  return [t, p];
}

function targets(yTrue: LabelInput, yPred: LabelInput): [Float64Array, Float64Array] {
  if (yTrue.length === 0) throw new InvalidInputError("y is empty", "EMPTY_INPUT");
  checkRows(yPred.length, yTrue.length, "yPred");
  return [toTargets(yTrue, yTrue.length), toTargets(yPred, yTrue.length)];
}

function checkRows(actual: number, expected: number, name: string): void {
  if (actual !== expected) throw new InvalidInputError(`${name} has ${actual} rows, yTrue has ${expected}`, "LENGTH_MISMATCH");
}

function isMatrixInput(x: ArrayLike<number> | MatrixInput): x is MatrixInput {
  if (Array.isArray(x)) return Array.isArray(x[0]);
  return !ArrayBuffer.isView(x);
}

function column(values: ArrayLike<number>): Matrix {
  return toMatrix({ data: Float64Array.from(values), shape: [values.length, 1] });
}

function columnOf(m: Matrix, c: number): Float64Array {
  return Float64Array.from({ length: m.rows }, (_, r) => m.data[r * m.cols + c]);
}

function twoColumns(m: Matrix): Matrix {
  const data = new Float64Array(m.rows * 2);
  for (let r = 0; r < m.rows; r++) {
    data[2 * r] = 1 - m.data[r];
    data[2 * r + 1] = m.data[r];
  }
  return { data, rows: m.rows, cols: 2 };
}

function clip(p: number, eps: number): number {
  return Math.min(1 - eps, Math.max(eps, p));
}
