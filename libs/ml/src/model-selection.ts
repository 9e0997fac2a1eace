import { InvalidInputError } from "./errors.js";
import type { Estimator } from "./estimator.js";
import { encodeClasses, type ClassLabel, type LabelInput } from "./labels.js";
import { toMatrix, type Matrix, type MatrixInput } from "./matrix.js";
import {
  accuracyScore,
  f1Score,
  logLoss,
  meanAbsoluteError,
  meanSquaredError,
  precisionScore,
  r2Score,
  recallScore,
  rocAucScore,
} from "./metrics.js";
import { Pipeline, type NamedStep, type PipelineSteps } from "./pipeline.js";
import { seedOf } from "./linear/seed.js";
import { Random, indices } from "./random.js";
import { loadModel } from "./serialize.js";

export interface TrainTestSplitOptions {
  /** A fraction in (0, 1) or a row count; default 0.25 (or what trainSize leaves). */
  testSize?: number;
  trainSize?: number;
  /** Seed of the shuffle; null draws one (sklearn's None). */
  randomState?: number | null;
  /** Default true; false takes the first rows for training. */
  shuffle?: boolean;
  /** Labels whose class proportions both parts keep (usually y). */
  stratify?: LabelInput;
}

export interface TrainTestSplit<T> {
  XTrain: Matrix;
  XTest: Matrix;
  yTrain: T[];
  yTest: T[];
}

/** sklearn's train_test_split for one X and one y. */
export function trainTestSplit<T extends ClassLabel>(X: MatrixInput, y: ArrayLike<T>, options: TrainTestSplitOptions = {}): TrainTestSplit<T> {
  const m = toMatrix(X);
  const n = m.rows;
  if (y.length !== n) throw new InvalidInputError(`y has ${y.length} values, X has ${n} rows`, "LENGTH_MISMATCH");
  const { nTrain, nTest } = splitSizes(n, options);
  const shuffle = options.shuffle ?? true;
  const random = new Random(seedOf(options.randomState));
  let test: number[];
  let train: number[];
  if (options.stratify) {
    if (!shuffle) throw new InvalidInputError("stratify needs shuffle", "BAD_PARAMETER");
    ({ train, test } = stratifiedSplit(options.stratify, n, nTest, random));
  } else {
    const order = shuffle ? Array.from(random.permutation(n)) : Array.from({ length: n }, (_, i) => i);
    test = order.slice(nTrain, nTrain + nTest);
    train = order.slice(0, nTrain);
  }
  return { XTrain: takeRows(m, train), XTest: takeRows(m, test), yTrain: train.map((i) => y[i]), yTest: test.map((i) => y[i]) };
}

export interface Fold {
  /** Row indices, ascending. */
  train: Int32Array;
  test: Int32Array;
}

export interface Splitter {
  split(X: MatrixInput | number, y?: LabelInput): Fold[];
  readonly nSplits: number;
}

export interface KFoldOptions {
  nSplits?: number;
  shuffle?: boolean;
  randomState?: number | null;
}

/** sklearn's KFold: nSplits contiguous test folds (of the shuffled order when shuffle), the first n % nSplits one row larger. */
export class KFold implements Splitter {
  readonly nSplits: number;
  private readonly shuffle: boolean;
  private readonly randomState: number | null;

  constructor(options: KFoldOptions = {}) {
    this.nSplits = checkSplits(options.nSplits ?? 5);
    this.shuffle = options.shuffle ?? false;
    this.randomState = options.randomState ?? null;
  }

  split(X: MatrixInput | number): Fold[] {
    const n = rowCount(X);
    if (this.nSplits > n) throw new InvalidInputError(`cannot split ${n} rows into ${this.nSplits} folds`, "TOO_FEW_ROWS");
    const order = this.shuffle ? new Random(seedOf(this.randomState)).permutation(n) : indices(n);
    const folds = new Int32Array(n);
    let start = 0;
    for (let f = 0; f < this.nSplits; f++) {
      const size = Math.floor(n / this.nSplits) + (f < n % this.nSplits ? 1 : 0);
      for (let i = start; i < start + size; i++) folds[order[i]] = f;
      start += size;
    }
    return foldsFrom(folds, this.nSplits);
  }
}

/**
 * sklearn's StratifiedKFold: each fold holds about the same share of every class. Rows are
 * dealt to folds as sklearn deals them (sorted labels, every nSplits-th to one fold), so
 * without shuffle the folds are the ones sklearn makes.
 */
export class StratifiedKFold implements Splitter {
  readonly nSplits: number;
  private readonly shuffle: boolean;
  private readonly randomState: number | null;

  constructor(options: KFoldOptions = {}) {
    this.nSplits = checkSplits(options.nSplits ?? 5);
    this.shuffle = options.shuffle ?? false;
    this.randomState = options.randomState ?? null;
  }

  split(X: MatrixInput | number, y?: LabelInput): Fold[] {
    const n = rowCount(X);
    if (!y) throw new InvalidInputError("StratifiedKFold.split needs y", "BAD_PARAMETER");
    const encoded = firstAppearanceCodes(y, n);
    const nClasses = encoded.reduce((most, c) => Math.max(most, c), -1) + 1; // not Math.max(...encoded): a spread of 150,000 overflows the stack
    const counts = new Array<number>(nClasses).fill(0);
    for (const c of encoded) counts[c]++;
    if (counts.every((c) => this.nSplits > c)) throw new InvalidInputError(`nSplits=${this.nSplits} is greater than every class's count`, "TOO_FEW_ROWS");
    const sorted = Int32Array.from(encoded).sort();
    const allocation = Array.from({ length: this.nSplits }, (_, f) => {
      const perClass = new Array<number>(nClasses).fill(0);
      for (let i = f; i < n; i += this.nSplits) perClass[sorted[i]]++;
      return perClass;
    });
    const random = new Random(seedOf(this.randomState));
    const folds = new Int32Array(n);
    for (let c = 0; c < nClasses; c++) {
      const forClass = allocation.flatMap((perClass, f) => new Array<number>(perClass[c]).fill(f));
      if (this.shuffle) shuffleInPlace(forClass, random);
      let next = 0;
      for (let i = 0; i < n; i++) if (encoded[i] === c) folds[i] = forClass[next++];
    }
    return foldsFrom(folds, this.nSplits);
  }
}

/** A built-in scorer name (sklearn's scoring strings; "neg_" ones are negated so greater is better) or a function. */
export type Scoring =
  | "accuracy"
  | "precision"
  | "recall"
  | "f1"
  | "f1_macro"
  | "f1_weighted"
  | "roc_auc"
  | "neg_log_loss"
  | "r2"
  | "neg_mean_squared_error"
  | "neg_root_mean_squared_error"
  | "neg_mean_absolute_error"
  | ((estimator: Estimator, X: Matrix, y: ClassLabel[]) => number);

export interface CrossValOptions {
  /** Folds: a count (stratified for classifiers, as sklearn), a splitter, or folds. Default 5. */
  cv?: number | Splitter | Fold[];
  /** Default: the estimator's own score (accuracy or R²). */
  scoring?: Scoring;
}

type Fittable = Estimator & { fit(X: MatrixInput, y: LabelInput): unknown };

/**
 * sklearn's cross_val_score: one score per fold, each on a fresh estimator from `estimator`
 * (a factory, or an estimator whose parameters are copied through its JSON, as sklearn's clone).
 */
export function crossValScore(estimator: (() => Fittable) | Fittable, X: MatrixInput, y: LabelInput, options: CrossValOptions = {}): Float64Array {
  const make = typeof estimator === "function" ? estimator : () => unfittedCopy(estimator) as Fittable;
  const m = toMatrix(X);
  const labels = Array.from(y as ArrayLike<ClassLabel>);
  const cv = options.cv ?? 5;
  const folds = Array.isArray(cv)
    ? cv
    : typeof cv === "number"
      ? (isClassifier(make()) ? new StratifiedKFold({ nSplits: cv }) : new KFold({ nSplits: cv })).split(m, labels)
      : cv.split(m, labels);
  return Float64Array.from(folds, ({ train, test }) => {
    const model = make();
    model.fit(takeRows(m, train), Array.from(train, (i) => labels[i]));
    return scoreOf(model, takeRows(m, test), Array.from(test, (i) => labels[i]), options.scoring);
  });
}

/** sklearn's clone: the same parameters, nothing learned. */
function unfittedCopy(estimator: Estimator): Estimator {
  if (estimator instanceof Pipeline) return new Pipeline(estimator.steps.map(([name, step]) => [name, unfittedCopy(step)] as NamedStep) as unknown as PipelineSteps<Estimator>);
  return loadModel({ ...estimator.toJSON(), state: null });
}

/** A classifier has classes and probabilities; a pipeline is one when its last step is. */
export function isClassifier(estimator: Estimator): boolean {
  if (estimator instanceof Pipeline) return isClassifier(estimator.steps[estimator.steps.length - 1][1]);
  return "classes" in estimator && typeof (estimator as { predictProba?: unknown }).predictProba === "function";
}

type Scorable = Estimator & {
  score?(X: MatrixInput, y: LabelInput): number;
  predict?(X: MatrixInput): ArrayLike<ClassLabel>;
  predictProba?(X: MatrixInput): Matrix;
  classes?: ClassLabel[];
};

function scoreOf(model: Scorable, X: Matrix, y: ClassLabel[], scoring?: Scoring): number {
  if (typeof scoring === "function") return scoring(model, X, y);
  const predict = () => Array.from(model.predict!(X)) as LabelInput;
  const proba = () => model.predictProba!(X);
  switch (scoring) {
    case undefined:
      return model.score!(X, y);
    case "accuracy":
      return accuracyScore(y, predict());
    case "precision":
      return precisionScore(y, predict());
    case "recall":
      return recallScore(y, predict());
    case "f1":
      return f1Score(y, predict());
    case "f1_macro":
      return f1Score(y, predict(), { average: "macro" });
    case "f1_weighted":
      return f1Score(y, predict(), { average: "weighted" });
    case "roc_auc":
      return rocAucScore(y, proba());
    case "neg_log_loss":
      return -logLoss(y, proba(), { labels: model.classes });
    case "r2":
      return r2Score(y, predict());
    case "neg_mean_squared_error":
      return -meanSquaredError(y, predict());
    case "neg_root_mean_squared_error":
      return -Math.sqrt(meanSquaredError(y, predict()));
    case "neg_mean_absolute_error":
      return -meanAbsoluteError(y, predict());
    default:
      throw new InvalidInputError(`unknown scoring "${String(scoring)}"`, "BAD_PARAMETER");
  }
}

function splitSizes(n: number, o: TrainTestSplitOptions): { nTrain: number; nTest: number } {
  const count = (size: number, name: string, round: (x: number) => number) => {
    if (size > 0 && size < 1) return round(size * n);
    if (Number.isInteger(size) && size >= 1 && size < n) return size;
    throw new InvalidInputError(`${name} must be a fraction in (0, 1) or a row count in [1, ${n - 1}], got ${size}`, "BAD_PARAMETER");
  };
  const nTest = o.testSize !== undefined ? count(o.testSize, "testSize", Math.ceil) : undefined;
  const nTrain = o.trainSize !== undefined ? count(o.trainSize, "trainSize", Math.floor) : undefined;
  const test = nTest ?? (nTrain !== undefined ? n - nTrain : Math.ceil(0.25 * n));
  const train = nTrain ?? n - test;
  if (train < 1 || test < 1 || train + test > n) {
    throw new InvalidInputError(`a split of ${n} rows into ${train} train and ${test} test rows is not possible`, "BAD_PARAMETER");
  }
  return { nTrain: train, nTest: test };
}

/** Test rows per class in proportion to its size (largest remainders take the rounding), shuffled within each class. */
function stratifiedSplit(stratify: LabelInput, n: number, nTest: number, random: Random): { train: number[]; test: number[] } {
  const { classes, index } = encodeClasses(stratify, n, { minClasses: 1 });
  const members = classes.map((_, c) => Array.from(index.keys()).filter((i) => index[i] === c));
  const exact = members.map((rows) => (rows.length * nTest) / n);
  const take = exact.map(Math.floor);
  const byRemainder = exact.map((e, c) => [e - take[c], c] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  for (let i = 0, left = nTest - take.reduce((a, b) => a + b, 0); i < left; i++) take[byRemainder[i][1]]++;
  const train: number[] = [];
  const test: number[] = [];
  members.forEach((rows, c) => {
    shuffleInPlace(rows, random);
    rows.forEach((row, k) => (k < take[c] ? test : train).push(row));
  });
  shuffleInPlace(train, random);
  shuffleInPlace(test, random);
  return { train, test };
}

function takeRows(m: Matrix, rows: ArrayLike<number>): Matrix {
  const data = new Float64Array(rows.length * m.cols);
  for (let i = 0; i < rows.length; i++) data.set(m.data.subarray(rows[i] * m.cols, (rows[i] + 1) * m.cols), i * m.cols);
  return { data, rows: rows.length, cols: m.cols, columns: m.columns };
}

function foldsFrom(folds: Int32Array, nSplits: number): Fold[] {
  return Array.from({ length: nSplits }, (_, f) => {
    const test: number[] = [];
    const train: number[] = [];
    folds.forEach((fold, i) => (fold === f ? test : train).push(i));
    return { train: Int32Array.from(train), test: Int32Array.from(test) };
  });
}

/** Class codes in order of first appearance, as sklearn's StratifiedKFold numbers them. */
function firstAppearanceCodes(y: LabelInput, n: number): Int32Array {
  if (y.length !== n) throw new InvalidInputError(`y has ${y.length} labels, X has ${n} rows`, "LENGTH_MISMATCH");
  const codes = new Map<ClassLabel, number>();
  return Int32Array.from(Array.from(y as ArrayLike<ClassLabel>), (label) => {
    if (!codes.has(label)) codes.set(label, codes.size);
    return codes.get(label)!;
  });
}

function shuffleInPlace<T>(a: T[], random: Random): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
}

function rowCount(X: MatrixInput | number): number {
  return typeof X === "number" ? X : toMatrix(X).rows;
}

function checkSplits(nSplits: number): number {
  if (!(Number.isInteger(nSplits) && nSplits >= 2)) throw new InvalidInputError(`nSplits must be an integer ≥ 2, got ${nSplits}`, "BAD_PARAMETER");
  return nSplits;
}
