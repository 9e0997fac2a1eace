import { Random } from "../random.js";

/**
 * A model as Shapley values see it: `count` rows of `width` features (row-major) in, `count`
 * rows of its outputs (row-major, the same number of outputs for every call) out.
 */
export type BatchModel = (rows: Float64Array | Float32Array, count: number) => Promise<Float64Array>;

export type ShapleyMethod = "exact" | "permutation";

export interface ShapleyOptions {
  /**
   * "exact" averages over every coalition of features (2^width of them; at most
   * MAX_EXACT_FEATURES features); "permutation" over sampled orderings of the features,
   * each with its reverse (SHAP's PermutationExplainer). "auto" (the default) takes exact
   * when it needs no more model rows than the orderings would.
   */
  method?: ShapleyMethod | "auto";
  /** Orderings sampled for each row, each walked forwards and backwards (default 10). */
  permutations?: number;
  /** Seeds each row's orderings with the row's index, so a row's values do not depend on how rows are grouped. */
  randomState?: number;
  /** Rows in one model call at most (default 65,536); a call holds whole coalitions, so at least the background's rows. */
  maxBatchRows?: number;
  /** Model calls in flight at once (default 2). */
  concurrency?: number;
  /**
   * Where a call's mixed rows are built (default a new Float64Array): a model that takes
   * float32 gets them without a conversion, one in a worker thread in shared memory.
   */
  allocate?: (length: number) => Float64Array | Float32Array;
  /** Stops the work between model calls (its reason is thrown): a row's calls can take long on a slow model. */
  signal?: AbortSignal;
}

export interface ShapleyValues {
  /** [rows, width, outputs]: how much each feature moved each output away from the base value. */
  values: Float64Array;
  /** [rows, outputs]: the model's outputs for the rows; base + Σ values is exactly this. */
  outputs: Float64Array;
}

/** Exact Shapley values over 2^width coalitions stop here: 16 features are 65,534 coalitions a row. */
export const MAX_EXACT_FEATURES = 16;
export const DEFAULT_PERMUTATIONS = 10;

/**
 * Interventional Shapley values (SHAP's KernelExplainer and PermutationExplainer answer the
 * same question): a coalition S of a row's features is worth the model's mean output over
 * the background rows with S's features set to the row's values, and each feature gets its
 * average marginal worth over the orders in which features join. Their sum plus the base
 * value (the mean output over the background) is the row's output.
 */
export class ShapleyExplainer {
  readonly width: number;
  readonly method: ShapleyMethod;
  private readonly backgroundRows: number;
  private readonly permutations: number;
  private readonly randomState: number;
  private readonly maxBatchRows: number;
  private readonly concurrency: number;
  private readonly allocate: (length: number) => Float64Array | Float32Array;
  private readonly signal?: AbortSignal;
  private baseValues?: Promise<Float64Array>;
  /** Exact coalitions are the same for every row. */
  private exactPlan?: { coalitions: Uint8Array[] };

  constructor(
    private readonly model: BatchModel,
    /** [backgroundRows, width], row-major. */
    private readonly background: Float64Array,
    width: number,
    options: ShapleyOptions = {},
  ) {
    if (!Number.isInteger(width) || width < 1) throw new RangeError(`width must be a positive integer, got ${width}`);
    if (background.length === 0 || background.length % width !== 0) throw new RangeError(`the background holds ${background.length} values, not rows of ${width}`);
    this.width = width;
    this.backgroundRows = background.length / width;
    this.permutations = options.permutations ?? DEFAULT_PERMUTATIONS;
    if (!Number.isInteger(this.permutations) || this.permutations < 1) throw new RangeError(`permutations must be a positive integer, got ${options.permutations}`);
    this.randomState = options.randomState ?? 0;
    this.maxBatchRows = Math.max(options.maxBatchRows ?? 65_536, this.backgroundRows);
    this.concurrency = Math.max(1, options.concurrency ?? 2);
    this.allocate = options.allocate ?? ((length) => new Float64Array(length));
    this.signal = options.signal;
    const method = options.method ?? "auto";
    if (method === "exact" && width > MAX_EXACT_FEATURES) throw new RangeError(`exact Shapley values take at most ${MAX_EXACT_FEATURES} features, not ${width}: use permutations`);
    this.method = method === "auto" ? (exactCoalitions(width) <= permutationCoalitions(width, this.permutations) ? "exact" : "permutation") : method;
  }

  /** Model rows one explained row costs: its coalitions times the background's rows. */
  get rowsPerExplainedRow(): number {
    return this.coalitionsPerRow * this.backgroundRows;
  }

  /** [outputs]: the model's mean output over the background, every row's starting point. */
  base(): Promise<Float64Array> {
    this.baseValues ??= this.model(this.background, this.backgroundRows).then((out) => meanRows(out, this.backgroundRows));
    return this.baseValues;
  }

  /** Shapley values of `count` rows ([count, width], row-major); `firstRow` is the first one's index in the whole input (it seeds the orderings). */
  async explain(rows: Float64Array, count: number, firstRow = 0): Promise<ShapleyValues> {
    if (rows.length !== count * this.width) throw new RangeError(`${count} rows of ${this.width} features are ${count * this.width} values, not ${rows.length}`);
    const base = await this.base();
    const outputs = count ? await this.model(rows, count) : new Float64Array(0);
    const k = base.length;
    if (outputs.length !== count * k) throw new RangeError(`the model gave ${outputs.length / Math.max(count, 1)} outputs a row for the rows and ${k} for the background`);
    const plans = Array.from({ length: count }, (_, i) => this.plan(firstRow + i));
    const worth = await this.coalitionWorth(rows, plans, k);
    const values = new Float64Array(count * this.width * k);
    for (let i = 0; i < count; i++) {
      const ends = { empty: base, full: outputs.subarray(i * k, (i + 1) * k) };
      const into = values.subarray(i * this.width * k, (i + 1) * this.width * k);
      if (this.method === "exact") exactValues(worth[i]!, ends, this.width, into);
      else permutationValues(plans[i]!.orders!, worth[i]!, ends, this.width, into);
    }
    return { values, outputs };
  }

  private get coalitionsPerRow(): number {
    return this.method === "exact" ? exactCoalitions(this.width) : permutationCoalitions(this.width, this.permutations);
  }

  /**
   * A row's coalitions, each as the features it holds: for exact, every mask but the empty
   * and the full one (their worth is the base and the row's output), in mask order; for
   * permutations, each ordering's and its reverse's proper prefixes.
   */
  private plan(row: number): { coalitions: Uint8Array[]; orders?: Int32Array[] } {
    const m = this.width;
    if (this.method === "exact") {
      const coalitions = [];
      if (!this.exactPlan) for (let mask = 1; mask < 2 ** m - 1; mask++) coalitions.push(Uint8Array.from({ length: m }, (_, j) => (mask >> j) & 1));
      this.exactPlan ??= { coalitions };
      return this.exactPlan;
    }
    const random = new Random((Math.imul(this.randomState, 0x9e3779b1) ^ Math.imul(row + 1, 0x85ebca6b)) >>> 0);
    const orders: Int32Array[] = [];
    const coalitions: Uint8Array[] = [];
    for (let p = 0; p < this.permutations; p++) {
      const order = random.permutation(m);
      for (const walk of [order, order.slice().reverse()]) {
        orders.push(walk);
        const holds = new Uint8Array(m);
        for (let step = 0; step < m - 1; step++) {
          holds[walk[step]!] = 1;
          coalitions.push(holds.slice());
        }
      }
    }
    return { coalitions, orders };
  }

  /** [row][coalition * outputs + o]: each coalition's mean output over the background. */
  private async coalitionWorth(rows: Float64Array, plans: { coalitions: Uint8Array[] }[], k: number): Promise<Float64Array[]> {
    const m = this.width;
    const b = this.backgroundRows;
    const worth = plans.map((p) => new Float64Array(p.coalitions.length * k));
    const perCall = Math.max(1, Math.floor(this.maxBatchRows / b));
    const units: { row: number; coalition: number }[] = [];
    plans.forEach((p, row) => p.coalitions.forEach((_, coalition) => units.push({ row, coalition })));
    const calls: (typeof units)[] = [];
    for (let at = 0; at < units.length; at += perCall) calls.push(units.slice(at, at + perCall));
    const run = async (call: typeof units) => {
      this.signal?.throwIfAborted();
      const hybrid = this.allocate(call.length * b * m);
      call.forEach(({ row, coalition }, u) => {
        // The background's rows, then the coalition's features set to the row's: a block copy and a few columns.
        hybrid.set(this.background, u * b * m);
        const holds = plans[row]!.coalitions[coalition]!;
        for (let j = 0; j < m; j++) {
          if (!holds[j]) continue;
          const value = rows[row * m + j]!;
          for (let at = u * b * m + j, end = (u + 1) * b * m; at < end; at += m) hybrid[at] = value;
        }
      });
      const out = await this.model(hybrid, call.length * b);
      if (out.length !== call.length * b * k) throw new RangeError(`the model gave ${out.length / (call.length * b)} outputs a row, not ${k}`);
      call.forEach(({ row, coalition }, u) => worth[row]!.set(meanRows(out.subarray(u * b * k, (u + 1) * b * k), b), coalition * k));
    };
    let next = 0;
    const lanes = Array.from({ length: Math.min(this.concurrency, calls.length) }, async () => {
      while (next < calls.length) await run(calls[next++]!);
    });
    await Promise.all(lanes);
    return worth;
  }
}

function exactCoalitions(m: number): number {
  return m > 30 ? Infinity : 2 ** m - 2;
}

function permutationCoalitions(m: number, permutations: number): number {
  return 2 * permutations * (m - 1);
}

/** The mean of each column of `rows` rows (row-major). */
function meanRows(values: Float64Array, rows: number): Float64Array {
  const k = values.length / rows;
  const mean = new Float64Array(k);
  for (let r = 0; r < rows; r++) for (let o = 0; o < k; o++) mean[o]! += values[r * k + o]!;
  for (let o = 0; o < k; o++) mean[o]! /= rows;
  return mean;
}

interface Ends {
  /** The worth of no feature (the base) and of all of them (the row's output), per output. */
  empty: Float64Array;
  full: Float64Array;
}

/** φ_j = Σ over S without j of |S|!(m−|S|−1)!/m! · (v(S ∪ j) − v(S)), coalition `mask` at index mask − 1 of `worth`. */
function exactValues(worth: Float64Array, ends: Ends, m: number, into: Float64Array): void {
  const k = ends.empty.length;
  const weight = Array.from({ length: m }, (_, s) => (factorial(s) * factorial(m - s - 1)) / factorial(m));
  const full = 2 ** m - 1;
  const v = (mask: number, o: number) => (mask === 0 ? ends.empty[o]! : mask === full ? ends.full[o]! : worth[(mask - 1) * k + o]!);
  for (let mask = 0; mask < full; mask++) {
    const size = popcount(mask);
    for (let j = 0; j < m; j++) {
      if (mask & (1 << j)) continue;
      for (let o = 0; o < k; o++) into[j * k + o]! += weight[size]! * (v(mask | (1 << j), o) - v(mask, o));
    }
  }
}

/** Each walk adds features in its order; a feature's value is its mean step in worth over the walks. */
function permutationValues(orders: Int32Array[], worth: Float64Array, ends: Ends, m: number, into: Float64Array): void {
  const k = ends.empty.length;
  orders.forEach((order, w) => {
    for (let o = 0; o < k; o++) {
      let before = ends.empty[o]!;
      for (let step = 0; step < m; step++) {
        const after = step === m - 1 ? ends.full[o]! : worth[(w * (m - 1) + step) * k + o]!;
        into[order[step]! * k + o]! += (after - before) / orders.length;
        before = after;
      }
    }
  });
}

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

function popcount(mask: number): number {
  let n = 0;
  for (let x = mask; x; x &= x - 1) n++;
  return n;
}
