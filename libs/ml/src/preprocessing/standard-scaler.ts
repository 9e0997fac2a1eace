import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { Incremental, OnnxOutputs, Transformer } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { mergeMoments, momentsOf } from "./moments.js";

export type StandardScalerParams = {
  withMean: boolean;
  withStd: boolean;
};

export interface StandardScalerState extends FittedState {
  mean: Float64Array;
  /** Population variance (ddof 0), as sklearn's var_. */
  variance: Float64Array;
  nSamplesSeen: number;
}

/** sklearn's StandardScaler: (x − mean) / std per column; partialFit merges batches exactly (Chan et al.). */
export class StandardScaler extends BaseEstimator<StandardScalerParams, StandardScalerState> implements Transformer, Incremental {
  constructor(params: Partial<StandardScalerParams> = {}) {
    super("StandardScaler", { withMean: true, withStd: true }, params);
  }

  get mean(): Float64Array {
    return this.fittedState().mean.slice();
  }

  get variance(): Float64Array {
    return this.fittedState().variance.slice();
  }

  /** sklearn's scale_: the standard deviation, 1 where a column is constant. */
  get scale(): Float64Array {
    return scaleOf(this.fittedState());
  }

  get nSamplesSeen(): number {
    return this.fittedState().nSamplesSeen;
  }

  fit(X: MatrixInput, _y?: LabelInput): this {
    this.state = undefined;
    return this.partialFit(X);
  }

  partialFit(X: MatrixInput, _y?: LabelInput): this {
    const m = toMatrix(X, { copy: false });
    if (this.state) checkWidth(m, this.state.nFeatures, this.kind);
    const batch = momentsOf(m);
    const merged = this.state ? mergeMoments({ n: this.state.nSamplesSeen, mean: this.state.mean, variance: this.state.variance }, batch) : batch;
    this.state = { nFeatures: m.cols, mean: merged.mean, variance: merged.variance, nSamplesSeen: merged.n };
    return this;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const { mean, scale } = this.effective(state);
    const k = m.cols;
    for (let i = 0; i < m.data.length; i++) m.data[i] = (m.data[i] - mean[i % k]) / scale[i % k];
    return m;
  }

  inverseTransform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const { mean, scale } = this.effective(state);
    const k = m.cols;
    for (let i = 0; i < m.data.length; i++) m.data[i] = m.data[i] * scale[i % k] + mean[i % k];
    return m;
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const state = this.fittedState();
    const { mean, scale } = this.effective(state);
    graph.initializer(`${prefix}_mean`, Float32Array.from(mean), [state.nFeatures]);
    graph.initializer(`${prefix}_scale`, Float32Array.from(scale), [state.nFeatures]);
    graph.node("Sub", [input, `${prefix}_mean`], [`${prefix}_centered`]);
    graph.node("Div", [`${prefix}_centered`, `${prefix}_scale`], [`${prefix}_scaled`]);
    return { kind: "transform", variable: `${prefix}_scaled`, width: state.nFeatures };
  }

  static fromJSON(model: SerializedModel | string): StandardScaler {
    return BaseEstimator.restore((p) => new StandardScaler(p), model);
  }

  private effective(state: StandardScalerState): { mean: Float64Array; scale: Float64Array } {
    return {
      mean: this.params.withMean ? state.mean : new Float64Array(state.nFeatures),
      scale: this.params.withStd ? scaleOf(state) : new Float64Array(state.nFeatures).fill(1),
    };
  }
}

/**
 * sqrt(variance), with 1 for columns whose variance is within rounding of 0 (sklearn's
 * _is_constant_feature bound), so constant columns map to 0 instead of ±Infinity.
 */
function scaleOf(state: StandardScalerState): Float64Array {
  const n = state.nSamplesSeen;
  const eps = Number.EPSILON;
  return state.variance.map((v, j) => {
    const bound = n * eps * v + (n * state.mean[j] * eps) ** 2;
    return v <= bound ? 1 : Math.sqrt(v);
  });
}

registerLoader("StandardScaler", (m) => StandardScaler.fromJSON(m));
