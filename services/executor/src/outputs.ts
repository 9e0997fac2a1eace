import { Table, makeVector, vectorFromArray, type RecordBatch, type Vector } from "apache-arrow";
import { decodeChunk, tableToIpc } from "@kiln/data";
import { rowWidth, type OnnxTensorData, type OnnxTensorMap } from "@kiln/onnx";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { TensorSignature } from "@kiln/sdk";
import { pickColumns } from "./data.js";
import { failedPrecondition } from "./job-failure.js";

/** Which of a model's outputs a job kind returns (sklearn-onnx names first). */
export function pickOutput(kind: JobKind, outputs: TensorSignature[]): string {
  const named = (...names: string[]) => outputs.find((o) => names.includes(o.name))?.name;
  const tensors = outputs.filter((o) => o.kind === "tensor");
  switch (kind) {
    case JobKind.PREDICT_PROBA: {
      const found = named("probabilities", "output_probability") ?? tensors.find((o) => /prob/i.test(o.name))?.name;
      if (!found) throw failedPrecondition("NO_PROBABILITIES", `the model has no probability output (outputs: ${outputs.map((o) => o.name).join(", ")})`);
      return found;
    }
    case JobKind.TRANSFORM: {
      // A clusterer transforms into its distances to the centers ("scores", as sklearn's KMeans.transform);
      // a classifier does not transform (its first output, the labels, came back as "component_0").
      const found = named("variable", "scores");
      if (found) return found;
      if (named("label", "output_label")) {
        throw failedPrecondition("NOT_A_TRANSFORMER", `the model predicts labels (outputs: ${outputs.map((o) => o.name).join(", ")}): it does not transform`);
      }
      return firstTensor(tensors);
    }
    default:
      return named("label", "output_label", "variable") ?? firstTensor(tensors);
  }
}

function firstTensor(tensors: TensorSignature[]): string {
  if (!tensors[0]) throw failedPrecondition("NO_TENSOR_OUTPUT", "the model has no tensor output Kiln can return");
  return tensors[0].name;
}

/**
 * One output tensor as table columns: [N] or [N, 1] → one column; [N, k] → k columns
 * (`probability_<class>` for probabilities when the classes are known, else `<base>_<j>`).
 */
export function outputTable(kind: JobKind, tensor: OnnxTensorData, classes?: (string | number)[]): Table {
  const rows = tensor.dims[0] ?? 0;
  const width = rowWidth(tensor.dims);
  const base = kind === JobKind.PREDICT_PROBA ? "probability" : kind === JobKind.TRANSFORM ? "component" : "prediction";
  const columns: Record<string, Vector> = {};
  if (width === 1) {
    columns[kind === JobKind.TRANSFORM ? "component_0" : base] = column(tensor.data, rows, 1, 0);
  } else {
    for (let j = 0; j < width; j++) {
      const suffix = kind === JobKind.PREDICT_PROBA && classes?.length === width ? String(classes[j]) : String(j);
      columns[`${base}_${suffix}`] = column(tensor.data, rows, width, j);
    }
  }
  return new Table(columns);
}

function column(data: OnnxTensorData["data"], rows: number, width: number, j: number): Vector {
  if (Array.isArray(data)) return vectorFromArray(Array.from({ length: rows }, (_, i) => String(data[i * width + j])));
  const typed = data as Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;
  if (width === 1) return makeVector((typed.length === rows ? typed : typed.slice(0, rows)) as Float32Array); // the run's output is ours to keep
  const Type = typed.constructor as new (n: number) => typeof typed;
  const out = new Type(rows);
  for (let i = 0; i < rows; i++) out[i] = typed[i * width + j]!;
  return makeVector(out as Float32Array);
}

/** Columns of an input batch copied out of its memory, which goes back to the reader's pool once the batch is released. */
export function copyColumns(batch: RecordBatch, names: string[]): Table {
  return decodeChunk(tableToIpc(new Table(pickColumns(batch, names))));
}

/** A job's kept input columns, then the model's outputs, row for row (job.keep_columns). */
export function withKept(kept: Table | undefined, outputs: Table): Table {
  if (!kept) return outputs;
  const names = new Set(kept.schema.fields.map((f) => f.name));
  const clash = outputs.schema.fields.find((f) => names.has(f.name));
  if (clash) {
    throw failedPrecondition("KEEP_COLUMN_CONFLICT", `the kept column "${clash.name}" has the name of an output column of the model; rename it in X or keep other columns`);
  }
  const columns = [...kept.schema.fields, ...outputs.schema.fields].map((f) => [f.name, (names.has(f.name) ? kept : outputs).getChild(f.name)!] as const);
  return new Table(Object.fromEntries(columns) as Record<string, Vector>);
}

/** The predictions of a batch as plain values (for scoring). */
export function predictionValues(tensor: OnnxTensorData): (number | string)[] {
  const rows = tensor.dims[0] ?? 0;
  const width = rowWidth(tensor.dims);
  const out: (number | string)[] = new Array(rows);
  const data = tensor.data as ArrayLike<number | bigint | string>;
  for (let i = 0; i < rows; i++) {
    const v = data[i * width]!;
    out[i] = typeof v === "bigint" ? Number(v) : v;
  }
  return out;
}

/** Σ over rows of the squared distance to the nearest center, from a clusterer's distances [N, k]: sklearn's inertia. */
export function inertiaOf(distances: OnnxTensorData): number {
  const rows = distances.dims[0] ?? 0;
  const width = rowWidth(distances.dims);
  const data = distances.data as ArrayLike<number>;
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    let nearest = Infinity;
    for (let j = 0; j < width; j++) nearest = Math.min(nearest, data[i * width + j]!);
    sum += nearest * nearest;
  }
  return sum;
}

export type { OnnxTensorMap };
