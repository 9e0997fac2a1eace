import { attr, type OnnxGraphBuilder } from "@kiln/onnx";
import { InvalidInputError } from "../errors.js";
import type { OnnxOutputs, Transformer } from "../estimator.js";
import type { LabelInput } from "../labels.js";
import { BaseEstimator, type FittedState } from "../base-estimator.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { registerLoader, type SerializedModel } from "../serialize.js";

export type OneHotEncoderParams = {
  /** "auto" learns each column's sorted distinct values; or the values per column, given. */
  categories: "auto" | number[][];
  /** An unseen value at transform: an error, or a row of zeros for that column. */
  handleUnknown: "error" | "ignore";
};

export interface OneHotEncoderState extends FittedState {
  /** Sorted categories of each input column. */
  categories: Float64Array[];
}

const FLOAT = 1;

/**
 * sklearn's OneHotEncoder for numeric columns, dense output: one 0/1 column per (column,
 * category), columns in input order, categories ascending. Categories should be exact in
 * float32 (integers are), since the ONNX model compares float32 values. The ONNX model
 * cannot raise, so there an unknown value always gives zeros.
 */
export class OneHotEncoder extends BaseEstimator<OneHotEncoderParams, OneHotEncoderState> implements Transformer {
  constructor(params: Partial<OneHotEncoderParams> = {}) {
    super("OneHotEncoder", { categories: "auto", handleUnknown: "error" }, params);
  }

  get categories(): Float64Array[] {
    return this.fittedState().categories.map((c) => c.slice());
  }

  /** sklearn's get_feature_names_out: "x0_3" for column 0, category 3 (or the input column names when known). */
  featureNamesOut(inputNames?: string[]): string[] {
    return this.fittedState().categories.flatMap((cats, j) => Array.from(cats, (c) => `${inputNames?.[j] ?? `x${j}`}_${c}`));
  }

  fit(X: MatrixInput, _y?: LabelInput): this {
    const p = this.params;
    if (p.handleUnknown !== "error" && p.handleUnknown !== "ignore") this.invalidParameter("handleUnknown", '"error" or "ignore"');
    const m = toMatrix(X);
    const k = m.cols;
    let categories: Float64Array[];
    if (p.categories === "auto") {
      categories = Array.from({ length: k }, (_, j) => Float64Array.from(new Set(columnValues(m, j))).sort());
    } else {
      if (!Array.isArray(p.categories) || p.categories.length !== k) this.invalidParameter("categories", `"auto" or one list of values per column (${k})`);
      categories = p.categories.map((c) => Float64Array.from(new Set(c)).sort());
      if (p.handleUnknown === "error") this.lookups(categories).forEach((lookup, j) => this.findUnknown(m, j, lookup, "fit"));
    }
    this.state = { nFeatures: k, categories };
    return this;
  }

  transform(X: MatrixInput): Matrix {
    const { m, state } = this.checkedInput(X);
    const lookups = this.lookups(state.categories);
    if (this.params.handleUnknown === "error") lookups.forEach((lookup, j) => this.findUnknown(m, j, lookup, "transform"));
    const offsets = offsetsOf(state.categories);
    const width = offsets[offsets.length - 1];
    const out = new Float64Array(m.rows * width);
    for (let r = 0; r < m.rows; r++) {
      for (let j = 0; j < m.cols; j++) {
        const c = lookups[j].get(m.data[r * m.cols + j]);
        if (c !== undefined) out[r * width + offsets[j] + c] = 1;
      }
    }
    return { data: out, rows: m.rows, cols: width };
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const { categories } = this.fittedState();
    // Repeat each input column once per category, then compare with the categories laid side by side.
    const columns = BigInt64Array.from(categories.flatMap((cats, j) => Array.from(cats, () => BigInt(j))));
    const values = Float32Array.from(categories.flatMap((cats) => Array.from(cats)));
    graph.initializer(`${prefix}_columns`, columns, [columns.length]);
    graph.initializer(`${prefix}_categories`, values, [values.length]);
    graph.node("Gather", [input, `${prefix}_columns`], [`${prefix}_repeated`], { axis: attr.int(1) });
    graph.node("Equal", [`${prefix}_repeated`, `${prefix}_categories`], [`${prefix}_hot`]);
    graph.node("Cast", [`${prefix}_hot`], [`${prefix}_onehot`], { to: attr.int(FLOAT) });
    return { kind: "transform", variable: `${prefix}_onehot`, width: values.length };
  }

  static fromJSON(model: SerializedModel | string): OneHotEncoder {
    return BaseEstimator.restore((p) => new OneHotEncoder(p), model);
  }

  private lookups(categories: Float64Array[]): Map<number, number>[] {
    return categories.map((cats) => new Map(Array.from(cats, (c, i) => [c, i])));
  }

  private findUnknown(m: Matrix, j: number, lookup: Map<number, number>, during: string): void {
    for (let r = 0; r < m.rows; r++) {
      const v = m.data[r * m.cols + j];
      if (!lookup.has(v)) {
        const name = m.columns?.[j] ?? `column ${j}`;
        throw new InvalidInputError(`${this.kind}: unknown category ${v} in ${name} (row ${r}) during ${during}; use handleUnknown "ignore" to encode it as zeros`, "UNKNOWN_CATEGORY");
      }
    }
  }
}

function columnValues(m: Matrix, j: number): number[] {
  return Array.from({ length: m.rows }, (_, r) => m.data[r * m.cols + j]);
}

function offsetsOf(categories: Float64Array[]): number[] {
  const offsets = [0];
  for (const cats of categories) offsets.push(offsets[offsets.length - 1] + cats.length);
  return offsets;
}

registerLoader("OneHotEncoder", (m) => OneHotEncoder.fromJSON(m));
