import { describe, expect, it } from "vitest";
import { InvalidInputError, NotFittedError } from "../../src/errors.js";
import type { LabelInput } from "../../src/labels.js";
import type { MatrixInput } from "../../src/matrix.js";

interface Fittable {
  fit(X: MatrixInput, y?: LabelInput): unknown;
  predict(X: MatrixInput): unknown;
  toOnnx(): Uint8Array;
}

/** The bad-input cases every estimator must reject with a typed error, one test each. */
export function describeBadInput(name: string, make: () => Fittable, target: "classes" | "values" | "none"): void {
  const X = [
    [0, 1, 2],
    [1, 0, 3],
    [2, 1, 0],
    [3, 2, 1],
    [4, 0, 2],
    [5, 1, 3],
  ];
  const y = target === "classes" ? ["a", "b", "a", "b", "a", "b"] : [0.5, 1, 1.5, 2, 2.5, 3];
  const fit = (m: Fittable, data: MatrixInput, labels: LabelInput = y) => (target === "none" ? m.fit(data) : m.fit(data, labels));

  describe(`${name} rejects bad input`, () => {
    it("NaN in X, naming the column", () => {
      const bad = X.map((r) => [...r]);
      bad[3][1] = NaN;
      expect(() => fit(make(), bad)).toThrow(InvalidInputError);
      expect(() => fit(make(), bad)).toThrow(/column 1/);
    });

    it("Infinity in X at predict, naming the column", () => {
      const m = make();
      fit(m, X);
      expect(() => m.predict([[0, 0, Infinity]])).toThrow(/Infinity in column 2/);
    });

    it("the wrong column count at predict", () => {
      const m = make();
      fit(m, X);
      expect(() => m.predict([[1, 2]])).toThrow(expect.objectContaining({ reason: "WRONG_WIDTH" }));
    });

    it("predict and toOnnx before fit", () => {
      expect(() => make().predict(X)).toThrow(NotFittedError);
      expect(() => make().toOnnx()).toThrow(NotFittedError);
    });

    it("empty X", () => {
      expect(() => fit(make(), [], [])).toThrow(expect.objectContaining({ reason: "EMPTY_INPUT" }));
    });

    if (target === "classes") {
      it("a single class in y", () => {
        expect(() => fit(make(), X, ["a", "a", "a", "a", "a", "a"])).toThrow(expect.objectContaining({ reason: "TOO_FEW_CLASSES" }));
      });
    }

    if (target !== "none") {
      it("y of another length than X", () => {
        expect(() => fit(make(), X, y.slice(1))).toThrow(expect.objectContaining({ reason: "LENGTH_MISMATCH" }));
      });
    }
  });
}
