import type { OnnxGraphBuilder } from "@kiln/onnx";
import type { Incremental, OnnxOutputs, Transformer } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { checkWidth, toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";

export type MinMaxScalerParams = {
  /** [low, high] each column is mapped onto. */
  featureRange: [number, number];
  /** Clip transformed values to featureRange (values outside the fitted range otherwise map outside it). */
  clip: boolean;
};

export interface MinMaxScalerState extends FittedState {
  dataMin: Float64Array;
  dataMax: Float64Array;
  nSamplesSeen: number;
}

/** sklearn's MinMaxScaler: x·scale + min per column, so the fitted range maps onto featureRange; partialFit keeps running extremes. */
export class MinMaxScaler extends BaseEstimator<MinMaxScalerParams, MinMaxScalerState> implements Transformer, Incremental {
  constructor(params: Partial<MinMaxScalerParams> = {}) {
    super("MinMaxScaler", { featureRange: [0, 1], clip: false }, params);
  }

  get dataMin(): Float64Array {
    return this.fittedState().dataMin.slice();
  }

  get dataMax(): Float64Array {
    return this.fittedState().dataMax.slice();
  }

  /** sklearn's scale_ and min_: transform is x·scale + min. */
  get scale(): Float64Array {
    return this.affine(this.fittedState()).scale;
  }

  get min(): Float64Array {
    return this.affine(this.fittedState()).min;
  }

  fit(X: MatrixInput, _y?: LabelInput): this {
    this.state = undefined;
    return this.partialFit(X);
  }

  partialFit(X: MatrixInput, _y?: LabelInput): this {
    this.checkRange();
    const m = toMatrix(X, { copy: false });
    if (this.state) checkWidth(m, this.state.nFeatures, this.kind);
    const k = m.cols;
    const dataMin = this.state?.dataMin.slice() ?? new Float64Array(k).fill(Infinity);
    const dataMax = this.state?.dataMax.slice() ?? new Float64Array(k).fill(-Infinity);
    const { data, rows } = m;
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < k; j++) {
        const v = data[r * k + j];
        if (v < dataMin[j]) dataMin[j] = v;
        if (v > dataMax[j]) dataMax[j] = v;
      }
    }
    this.state = { nFeatures: k, dataMin, dataMax, nSamplesSeen: (this.state?.nSamplesSeen ?? 0) + m.rows };
    return this;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const { scale, min } = this.affine(state);
    const [low, high] = this.params.featureRange;
    const k = m.cols;
    for (let i = 0; i < m.data.length; i++) {
      const v = m.data[i] * scale[i % k] + min[i % k];
      m.data[i] = this.params.clip ? Math.min(high, Math.max(low, v)) : v;
    }
    return m;
  }

  inverseTransform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const { scale, min } = this.affine(state);
    const k = m.cols;
    for (let i = 0; i < m.data.length; i++) m.data[i] = (m.data[i] - min[i % k]) / scale[i % k];
    return m;
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const state = this.fittedState();
    const { scale, min } = this.affine(state);
    graph.initializer(`${prefix}_scale`, Float32Array.from(scale), [state.nFeatures]);
    graph.initializer(`${prefix}_min`, Float32Array.from(min), [state.nFeatures]);
    graph.node("Mul", [input, `${prefix}_scale`], [`${prefix}_scaled`]);
    graph.node("Add", [`${prefix}_scaled`, `${prefix}_min`], [`${prefix}_shifted`]);
    if (!this.params.clip) return { kind: "transform", variable: `${prefix}_shifted`, width: state.nFeatures };
    const [low, high] = this.params.featureRange;
    graph.initializer(`${prefix}_low`, Float32Array.of(low), []);
    graph.initializer(`${prefix}_high`, Float32Array.of(high), []);
    graph.node("Clip", [`${prefix}_shifted`, `${prefix}_low`, `${prefix}_high`], [`${prefix}_clipped`]);
    return { kind: "transform", variable: `${prefix}_clipped`, width: state.nFeatures };
  }

  static fromJSON(model: SerializedModel | string): MinMaxScaler {
    return BaseEstimator.restore((p) => new MinMaxScaler(p), model);
  }

  private checkRange(): void {
    const r = this.params.featureRange;
    if (!(Array.isArray(r) && r.length === 2 && Number.isFinite(r[0]) && Number.isFinite(r[1]) && r[0] < r[1])) {
      this.invalidParameter("featureRange", "[low, high] with low < high");
    }
  }

  private affine(state: MinMaxScalerState): { scale: Float64Array; min: Float64Array } {
    const [low, high] = this.params.featureRange;
    // A constant column (range within rounding of 0) is scaled by 1, as sklearn's _handle_zeros_in_scale, so it maps to low.
    const scale = state.dataMax.map((max, j) => {
      const range = max - state.dataMin[j];
      return (high - low) / (range < 10 * Number.EPSILON ? 1 : range);
    });
    const min = state.dataMin.map((v, j) => low - v * scale[j]);
    return { scale, min };
  }
}

registerLoader("MinMaxScaler", (m) => MinMaxScaler.fromJSON(m));
