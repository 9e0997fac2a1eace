import { expect, it } from "vitest";
import { InvalidInputError, NotFittedError } from "../../src/errors.js";
import type { LabelInput } from "../../src/labels.js";
import type { Matrix, MatrixInput } from "../../src/matrix.js";

interface Subject {
  fit(X: MatrixInput, y?: LabelInput): unknown;
}

/**
 * The bad-input cases every estimator must refuse with a typed error: NaN and Infinity in X
 * (naming the column), empty X, predict before fit, wrong width at predict, and — for
 * classifiers — a single-class y.
 */
export function itRejectsBadInput(
  make: () => Subject,
  X: Matrix,
  y: LabelInput | undefined,
  use: (model: Subject, X: MatrixInput) => unknown,
  o: { classifier?: boolean; allowsNaN?: boolean } = {},
): void {
  const withValue = (v: number, col: number) => {
    const data = X.data.slice();
    data[3 * X.cols + col] = v;
    return { ...X, data };
  };
  if (!o.allowsNaN) {
    it("rejects NaN in X at fit, naming the column", () => {
      expect(() => make().fit(withValue(NaN, X.cols - 1), y)).toThrow(InvalidInputError);
      expect(() => make().fit(withValue(NaN, X.cols - 1), y)).toThrow(new RegExp(`NaN in column ${X.cols - 1} \\(row 3\\)`));
    });
  }
  it("rejects Infinity in X at fit and at predict, naming the column", () => {
    expect(() => make().fit(withValue(Infinity, 0), y)).toThrow(/Infinity in column 0/);
    const model = make();
    model.fit(X, y);
    expect(() => use(model, withValue(-Infinity, 1))).toThrow(/-Infinity in column 1/);
  });
  it("rejects empty X", () => {
    let error: unknown;
    try {
      make().fit({ data: new Float64Array(0), shape: [0, X.cols] }, y === undefined ? undefined : []);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).reason).toBe("EMPTY_INPUT");
  });
  it("rejects predict/transform before fit with NotFittedError", () => {
    expect(() => use(make(), X)).toThrow(NotFittedError);
  });
  it("rejects X of the wrong width after fit", () => {
    const model = make();
    model.fit(X, y);
    const narrow = { data: X.data.slice(0, X.rows * (X.cols - 1)), shape: [X.rows, X.cols - 1] as const };
    expect(() => use(model, narrow)).toThrow(new RegExp(`fitted on ${X.cols} columns, X has ${X.cols - 1}`));
  });
  if (o.classifier) {
    it("rejects a single-class y", () => {
      const one = Array.from({ length: X.rows }, () => (y as ArrayLike<unknown>)[0]) as LabelInput;
      expect(() => make().fit(X, one)).toThrow(/1 class; a classifier needs at least 2/);
    });
  }
}
