import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { OnnxOutputs, Transformer } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { principalAxes } from "./principal-axes.js";

export type PCAParams = {
  /** An integer count, a fraction in (0, 1) of variance to keep, or null for min(n, k). */
  nComponents: number | null;
  /** Scale each component to unit variance. */
  whiten: boolean;
};

export interface PCAState extends FittedState {
  mean: Float64Array;
  /** nComponents × nFeatures, row-major. */
  components: Float64Array;
  explainedVariance: Float64Array;
  explainedVarianceRatio: Float64Array;
  singularValues: Float64Array;
  noiseVariance: number;
  nSamples: number;
}

/** sklearn's PCA (exact solvers), with sklearn's component signs (svd_flip on the components, as sklearn ≥ 1.5). */
export class PCA extends BaseEstimator<PCAParams, PCAState> implements Transformer {
  constructor(params: Partial<PCAParams> = {}) {
    super("PCA", { nComponents: null, whiten: false }, params);
  }

  get nComponents(): number {
    const s = this.fittedState();
    return s.explainedVariance.length;
  }

  /** nComponents × nFeatures (a copy). */
  get components(): Matrix {
    const s = this.fittedState();
    return { data: s.components.slice(), rows: s.explainedVariance.length, cols: s.nFeatures };
  }

  get mean(): Float64Array {
    return this.fittedState().mean.slice();
  }

  get explainedVariance(): Float64Array {
    return this.fittedState().explainedVariance.slice();
  }

  get explainedVarianceRatio(): Float64Array {
    return this.fittedState().explainedVarianceRatio.slice();
  }

  get singularValues(): Float64Array {
    return this.fittedState().singularValues.slice();
  }

  /** Mean variance of the dropped directions (probabilistic PCA's σ²). */
  get noiseVariance(): number {
    return this.fittedState().noiseVariance;
  }

  fit(X: MatrixInput, _y?: LabelInput): this {
    const m = toMatrix(X);
    const { mean, axes, variance, totalVariance } = principalAxes(m);
    const count = this.componentCount(variance, totalVariance, Math.min(m.rows, m.cols));
    const k = m.cols;
    const ratio = variance.map((v) => (totalVariance > 0 ? v / totalVariance : 0));
    const dropped = variance.subarray(count);
    this.state = {
      nFeatures: k,
      mean,
      components: axes.slice(0, count * k),
      explainedVariance: variance.slice(0, count),
      explainedVarianceRatio: ratio.slice(0, count),
      singularValues: variance.slice(0, count).map((v) => Math.sqrt(v * Math.max(m.rows - 1, 1))),
      noiseVariance: dropped.length ? dropped.reduce((a, b) => a + b, 0) / dropped.length : 0,
      nSamples: m.rows,
    };
    return this;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const c = state.explainedVariance.length;
    const k = m.cols;
    const out = new Float64Array(m.rows * c);
    const centered = new Float64Array(k);
    for (let r = 0; r < m.rows; r++) {
      for (let j = 0; j < k; j++) centered[j] = m.data[r * k + j] - state.mean[j];
      for (let i = 0; i < c; i++) {
        let sum = 0;
        for (let j = 0; j < k; j++) sum += centered[j] * state.components[i * k + j];
        out[r * c + i] = this.params.whiten ? sum / Math.sqrt(state.explainedVariance[i]) : sum;
      }
    }
    return { data: out, rows: m.rows, cols: c };
  }

  /** Back to the input space: the projection onto the kept components. */
  inverseTransform(X: MatrixInput): Matrix {
    const state = this.fittedState();
    const z = toMatrix(X);
    const c = state.explainedVariance.length;
    checkWidth(z, c, `${this.kind} (inverseTransform)`);
    const k = state.nFeatures;
    const out = new Float64Array(z.rows * k);
    for (let r = 0; r < z.rows; r++) {
      for (let j = 0; j < k; j++) out[r * k + j] = state.mean[j];
      for (let i = 0; i < c; i++) {
        const v = this.params.whiten ? z.data[r * c + i] * Math.sqrt(state.explainedVariance[i]) : z.data[r * c + i];
        for (let j = 0; j < k; j++) out[r * k + j] += v * state.components[i * k + j];
      }
    }
    return { data: out, rows: z.rows, cols: k };
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const s = this.fittedState();
    const c = s.explainedVariance.length;
    const k = s.nFeatures;
    const projection = new Float32Array(k * c);
    for (let i = 0; i < c; i++) {
      const divisor = this.params.whiten ? Math.sqrt(s.explainedVariance[i]) : 1;
      for (let j = 0; j < k; j++) projection[j * c + i] = s.components[i * k + j] / divisor;
    }
    graph.initializer(`${prefix}_mean`, Float32Array.from(s.mean), [k]);
    graph.initializer(`${prefix}_projection`, projection, [k, c]);
    graph.node("Sub", [input, `${prefix}_mean`], [`${prefix}_centered`]);
    graph.node("MatMul", [`${prefix}_centered`, `${prefix}_projection`], [`${prefix}_projected`]);
    return { kind: "transform", variable: `${prefix}_projected`, width: c };
  }

  static fromJSON(model: SerializedModel | string): PCA {
    return BaseEstimator.restore((p) => new PCA(p), model);
  }

  private componentCount(variance: Float64Array, total: number, rank: number): number {
    const n = this.params.nComponents;
    if (n === null) return rank;
    if (Number.isInteger(n) && n >= 1 && n <= rank) return n;
    if (n > 0 && n < 1) {
      // sklearn: the fewest components whose cumulative ratio exceeds n.
      let cumulative = 0;
      for (let i = 0; i < rank; i++) {
        cumulative += variance[i] / total;
        if (cumulative > n) return i + 1;
      }
      return rank;
    }
    return this.invalidParameter("nComponents", `null, an integer in [1, ${rank}] (min of rows and columns), or a fraction in (0, 1)`);
  }
}

registerLoader("PCA", (m) => PCA.fromJSON(m));
