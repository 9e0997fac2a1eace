import { describe, expect, it } from "vitest";
import { Float32, Float64, Int64, makeData, makeVector, Table, vectorFromArray } from "apache-arrow";
import { checkNoMissingValues } from "../src/missing-values.js";
import { JobFailure } from "../src/job-failure.js";

function failure(fn: () => void): JobFailure | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof JobFailure) return e;
    throw e;
  }
  return undefined;
}

describe("checkNoMissingValues", () => {
  it("passes complete columns of floats and integers", () => {
    const batch = new Table({ a: vectorFromArray([1.5, 2, 3], new Float64()), n: vectorFromArray([1n, 2n, 3n], new Int64()) }).batches[0]!;
    expect(failure(() => checkNoMissingValues(batch, ["a", "n"], 0, "LogisticRegression"))).toBeUndefined();
  });

  it("names the first null, NaN or ±Infinity by column and by row of the whole input", () => {
    const batch = new Table({
      a: vectorFromArray([1, 2, NaN, 4], new Float64()),
      b: vectorFromArray([1, null, 3, 4], new Float64()),
      c: vectorFromArray([1, 2, 3, -Infinity], new Float32()),
    }).batches[0]!;
    expect(failure(() => checkNoMissingValues(batch, ["a", "b", "c"], 100, "MLPClassifier"))).toMatchObject({
      code: "INVALID_ARGUMENT",
      reason: "NON_FINITE_INPUT",
      message: 'X has null in column "b" (row 101); MLPClassifier takes no missing values: fill them in (a SimpleImputer first in a Pipeline) or filter those rows out',
    });
    expect(failure(() => checkNoMissingValues(batch, ["a", "c"], 0, "m"))?.message).toMatch(/^X has NaN in column "a" \(row 2\)/);
    expect(failure(() => checkNoMissingValues(batch, ["c"], 0, "m"))?.message).toMatch(/^X has -Infinity in column "c" \(row 3\)/);
    // Columns the model does not read are not its business.
    expect(failure(() => checkNoMissingValues(batch, [], 0, "m"))).toBeUndefined();
  });

  it("looks past the number a null slot happens to hold, and finds nulls in integer columns", () => {
    // Row 0 is null with NaN underneath: the null is reported, not the NaN.
    const values = Float64Array.of(NaN, 1, 2);
    const nullBitmap = Uint8Array.of(0b110);
    const withSlot = makeVector(makeData({ type: new Float64(), length: 3, nullCount: 1, data: values, nullBitmap }));
    const batch = new Table({ x: withSlot, n: vectorFromArray([1n, 2n, null], new Int64()) }).batches[0]!;
    expect(failure(() => checkNoMissingValues(batch, ["x"], 0, "m"))?.message).toMatch(/^X has null in column "x" \(row 0\)/);
    expect(failure(() => checkNoMissingValues(batch, ["n"], 0, "m"))?.message).toMatch(/^X has null in column "n" \(row 2\)/);
  });
});
