import type { RecordBatch } from "apache-arrow";
import { isColumnsFeed, matrixFromColumns, type OnnxTensorData } from "@kiln/onnx";
import type { ModelVersionInfo } from "@kiln/sdk";
import { FLOAT_INPUTS, planFeatures, type ColumnInfo, type FeaturePlan } from "./features.js";
import { failedPrecondition } from "./job-failure.js";

/** A model whose one input is a numeric matrix [N, features], and how a batch's rows become it. */
export interface MatrixInput {
  /** The input's name and element type. */
  name: string;
  type: "float32" | "float64";
  /** The columns that are its features, in order. */
  features: string[];
  plan: FeaturePlan;
}

/**
 * The model's matrix input over these columns (see planFeatures), for work that builds rows
 * of its own (Shapley values mix a row's features with other rows'); a model of several
 * inputs or text ones fails with FAILED_PRECONDITION (`reason`).
 */
export function matrixInput(version: ModelVersionInfo, table: ColumnInfo[], wanted: string[] | undefined, reason: string, why: string): MatrixInput {
  const inputs = version.signature?.inputs ?? [];
  const single = inputs.length === 1 ? inputs[0]! : undefined;
  const type = single && FLOAT_INPUTS[single.elementType];
  if (!single || !type || single.shape?.length !== 2) {
    const has = inputs.map((i) => `${i.name} ${i.type}`).join(", ") || "none";
    throw failedPrecondition(reason, `${why}: ${version.name} takes one numeric matrix [N, features] (its inputs: ${has})`);
  }
  const plan = planFeatures(inputs, table, wanted);
  return { name: single.name, type, features: plan.columns, plan };
}

/** A batch's features as a row-major float64 matrix (nulls as NaN). */
export function featureRows(input: MatrixInput, batch: RecordBatch): Float64Array {
  const feed = input.plan.feeds(batch)[input.name]!;
  if (isColumnsFeed(feed)) return matrixFromColumns({ ...feed, type: "float64" }).data as Float64Array;
  const data = (feed as OnnxTensorData).data;
  return data instanceof Float64Array ? data : Float64Array.from(data as Float32Array);
}
