import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import type { OnnxOutputs, Transformer } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";
import { columnStatistic } from "./column-statistic.js";

export type SimpleImputerParams = {
  strategy: "mean" | "median" | "most_frequent" | "constant";
  /** The value for strategy "constant"; null means 0, as sklearn for numbers. */
  fillValue: number | null;
  /** Keep columns with no observed value (filled with 0) instead of dropping them, as sklearn's keep_empty_features. */
  keepEmptyFeatures: boolean;
};

export interface SimpleImputerState extends FittedState {
  /** The fill value per input column; NaN for a column with no observed value. */
  statistics: Float64Array;
  /** Input columns the output keeps, in order. */
  kept: Int32Array;
}

/** sklearn's SimpleImputer with NaN as the missing value; columns never observed are dropped unless kept. */
export class SimpleImputer extends BaseEstimator<SimpleImputerParams, SimpleImputerState> implements Transformer {
  constructor(params: Partial<SimpleImputerParams> = {}) {
    super("SimpleImputer", { strategy: "mean", fillValue: null, keepEmptyFeatures: false }, params);
  }

  override get takesMissingValues(): boolean {
    return true;
  }

  get statistics(): Float64Array {
    return this.fittedState().statistics.slice();
  }

  fit(X: MatrixInput, _y?: LabelInput): this {
    const p = this.params;
    if (!["mean", "median", "most_frequent", "constant"].includes(p.strategy)) {
      this.invalidParameter("strategy", '"mean", "median", "most_frequent" or "constant"');
    }
    if (p.fillValue !== null && !Number.isFinite(p.fillValue)) this.invalidParameter("fillValue", "a finite number or null");
    const m = toMatrix(X, { allowNaN: true });
    const statistics = new Float64Array(m.cols);
    const kept: number[] = [];
    for (let j = 0; j < m.cols; j++) {
      const observed: number[] = [];
      for (let r = 0; r < m.rows; r++) if (!Number.isNaN(m.data[r * m.cols + j])) observed.push(m.data[r * m.cols + j]);
      statistics[j] = p.strategy === "constant" ? (p.fillValue ?? 0) : observed.length ? columnStatistic(observed, p.strategy) : NaN;
      if (!Number.isNaN(statistics[j]) || p.keepEmptyFeatures) kept.push(j);
      if (Number.isNaN(statistics[j]) && p.keepEmptyFeatures) statistics[j] = 0;
    }
    this.state = { nFeatures: m.cols, statistics, kept: Int32Array.from(kept) };
    return this;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X, { allowNaN: true });
    const width = state.kept.length;
    const out = new Float64Array(m.rows * width);
    for (let r = 0; r < m.rows; r++) {
      for (let c = 0; c < width; c++) {
        const j = state.kept[c];
        const v = m.data[r * m.cols + j];
        out[r * width + c] = Number.isNaN(v) ? state.statistics[j] : v;
      }
    }
    return { data: out, rows: m.rows, cols: width, columns: m.columns && Array.from(state.kept, (j) => m.columns![j]) };
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { statistics, kept, nFeatures } = this.fittedState();
    let source = input;
    if (kept.length < nFeatures) {
      graph.initializer(`${prefix}_kept`, BigInt64Array.from(kept, BigInt), [kept.length]);
      graph.node("Gather", [input, `${prefix}_kept`], [`${prefix}_columns`], { axis: attr.int(1) });
      source = `${prefix}_columns`;
    }
    graph.initializer(`${prefix}_statistics`, Float32Array.from(kept, (j) => statistics[j]), [kept.length]);
    graph.node("IsNaN", [source], [`${prefix}_missing`]);
    graph.node("Where", [`${prefix}_missing`, `${prefix}_statistics`, source], [`${prefix}_imputed`]);
    return { kind: "transform", variable: `${prefix}_imputed`, width: kept.length };
  }

  static fromJSON(model: SerializedModel | string): SimpleImputer {
    return BaseEstimator.restore((p) => new SimpleImputer(p), model);
  }
}

registerLoader("SimpleImputer", (m) => SimpleImputer.fromJSON(m));
