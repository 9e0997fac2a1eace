/**
 * What gradient boosting needs from a loss, over raw scores `raw` (rows × nOutputs, row-major):
 * the starting scores, per-row gradients and hessians, and the mean loss over some rows.
 */
export interface BoostingLoss {
  readonly nOutputs: number;
  /** Every hessian is 1 (squared error): trees then take the row count for the hessian sum. */
  readonly unitHessian?: boolean;
  baseline(rows: Int32Array): Float64Array;
  /** Fills g[k][i] and h[k][i] for every row i in `rows`. */
  gradients(raw: Float64Array, rows: Int32Array, g: Float64Array[], h: Float64Array[]): void;
  loss(raw: Float64Array, rows: Int32Array): number;
}

/** sklearn's half squared error: g = raw - y, h = 1. */
export class SquaredError implements BoostingLoss {
  readonly nOutputs = 1;
  readonly unitHessian = true;
  constructor(private readonly y: Float64Array) {}

  baseline(rows: Int32Array): Float64Array {
    let sum = 0;
    for (const i of rows) sum += this.y[i];
    return Float64Array.of(sum / rows.length);
  }

  gradients(raw: Float64Array, rows: Int32Array, g: Float64Array[], h: Float64Array[]): void {
    for (const i of rows) {
      g[0][i] = raw[i] - this.y[i];
      h[0][i] = 1;
    }
  }

  loss(raw: Float64Array, rows: Int32Array): number {
    let sum = 0;
    for (const i of rows) sum += 0.5 * (raw[i] - this.y[i]) ** 2;
    return sum / rows.length;
  }
}

/** Binary log loss on one raw score (the log-odds of class 1). */
export class BinaryLogLoss implements BoostingLoss {
  readonly nOutputs = 1;
  constructor(private readonly y: Int32Array) {}

  baseline(rows: Int32Array): Float64Array {
    let ones = 0;
    for (const i of rows) ones += this.y[i];
    const p = clip(ones / rows.length);
    return Float64Array.of(Math.log(p / (1 - p)));
  }

  gradients(raw: Float64Array, rows: Int32Array, g: Float64Array[], h: Float64Array[]): void {
    for (const i of rows) {
      const p = sigmoid(raw[i]);
      g[0][i] = p - this.y[i];
      h[0][i] = p * (1 - p);
    }
  }

  loss(raw: Float64Array, rows: Int32Array): number {
    let sum = 0;
    // log(1 + e^r) - y·r, written to stay finite for large |r|
    for (const i of rows) sum += Math.max(raw[i], 0) + Math.log1p(Math.exp(-Math.abs(raw[i]))) - this.y[i] * raw[i];
    return sum / rows.length;
  }
}

/** Multinomial log loss on one raw score per class, probabilities by softmax. */
export class MultinomialLogLoss implements BoostingLoss {
  private readonly p: Float64Array;
  constructor(
    private readonly y: Int32Array,
    readonly nOutputs: number,
  ) {
    this.p = new Float64Array(nOutputs);
  }

  baseline(rows: Int32Array): Float64Array {
    const counts = new Float64Array(this.nOutputs);
    for (const i of rows) counts[this.y[i]]++;
    const logs = Array.from(counts, (c) => Math.log(clip(c / rows.length)));
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    return Float64Array.from(logs, (l) => l - mean);
  }

  gradients(raw: Float64Array, rows: Int32Array, g: Float64Array[], h: Float64Array[]): void {
    const K = this.nOutputs;
    const p = this.p;
    for (const i of rows) {
      softmaxInto(raw, i * K, K, p);
      for (let k = 0; k < K; k++) {
        g[k][i] = p[k] - (this.y[i] === k ? 1 : 0);
        h[k][i] = p[k] * (1 - p[k]);
      }
    }
  }

  loss(raw: Float64Array, rows: Int32Array): number {
    const K = this.nOutputs;
    let sum = 0;
    for (const i of rows) {
      let max = -Infinity;
      for (let k = 0; k < K; k++) max = Math.max(max, raw[i * K + k]);
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(raw[i * K + k] - max);
      sum += max + Math.log(z) - raw[i * K + this.y[i]];
    }
    return sum / rows.length;
  }
}

export function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function softmaxInto(raw: Float64Array, at: number, K: number, out: Float64Array, outAt = 0): void {
  let max = -Infinity;
  for (let k = 0; k < K; k++) max = Math.max(max, raw[at + k]);
  let z = 0;
  for (let k = 0; k < K; k++) z += out[outAt + k] = Math.exp(raw[at + k] - max);
  for (let k = 0; k < K; k++) out[outAt + k] /= z;
}

function clip(p: number): number {
  return Math.min(1 - 1e-15, Math.max(1e-15, p));
}
