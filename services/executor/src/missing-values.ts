import { DataType, type RecordBatch, type Vector } from "apache-arrow";
import { allFinite } from "@kiln/ml";
import { NonFiniteInputError } from "@kiln/onnx";
import { TAKES_MISSING_VALUES } from "@kiln/contracts";
import type { ModelVersionInfo } from "@kiln/sdk";
import { invalidInput } from "./job-failure.js";

/**
 * A Kiln model that takes no missing values (all but an imputer, or a Pipeline starting
 * with one) refuses them as its local predict does: its ONNX graph would turn a NaN into
 * a NaN probability and label the row as the first class, a wrong answer with no error.
 * Models without the metadata (uploaded ONNX, earlier versions) get their rows as they are.
 */
export function refusesMissingValues(version: ModelVersionInfo): boolean {
  return version.metadata[TAKES_MISSING_VALUES] === false;
}

/** Fails on the first null, NaN or ±Infinity in the feature columns, naming the column and the input's row (`firstRow` is the batch's). */
export function checkNoMissingValues(batch: RecordBatch, columns: string[], firstRow: number, model: string): void {
  let found: { column: string; row: number; value: string } | undefined;
  for (const column of columns) {
    const bad = firstBad(batch.getChild(column)!);
    if (bad && (!found || bad.row < found.row)) found = { column, ...bad };
  }
  if (!found) return;
  throw nonFiniteInput(found.column, firstRow + found.row, found.value, model);
}

/** Whether any of the columns holds a null: Arrow keeps the count, so nothing looks at the rows. */
export function hasNulls(batch: RecordBatch, columns: string[]): boolean {
  return columns.some((name) => batch.getChild(name)!.nullCount > 0);
}

/** A NonFiniteInputError from laying a batch's features out (ColumnsFeed.finite) as checkNoMissingValues words it; other errors as they are. */
export function nonFiniteFailure(e: unknown, features: string[], firstRow: number, model: string): unknown {
  return e instanceof NonFiniteInputError ? nonFiniteInput(features[e.column]!, firstRow + e.row, String(e.value), model) : e;
}

function nonFiniteInput(column: string, row: number, value: string, model: string) {
  return invalidInput(
    "NON_FINITE_INPUT",
    `X has ${value} in column "${column}" (row ${row}); ${model} takes no missing values: fill them in (a SimpleImputer first in a Pipeline) or filter those rows out`,
  );
}

function firstBad(vector: Vector): { row: number; value: string } | undefined {
  const values: unknown = DataType.isFloat(vector.type) ? vector.toArray() : undefined;
  const floats = values instanceof Float64Array || values instanceof Float32Array ? values : undefined;
  if (vector.nullCount === 0 && (!floats || allFinite(floats))) return undefined; // the usual case, without a look at each row
  for (let i = 0; i < vector.length; i++) {
    if (!vector.isValid(i)) return { row: i, value: "null" }; // its slot holds any number
    if (floats && !Number.isFinite(floats[i]!)) return { row: i, value: String(floats[i]) };
  }
  return undefined;
}
