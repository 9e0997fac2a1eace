import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../src/errors.js";
import {
  accuracyScore,
  confusionMatrix,
  f1Score,
  logLoss,
  meanAbsoluteError,
  maxError,
  meanAbsolutePercentageError,
  meanSquaredError,
  precisionScore,
  r2Score,
  recallScore,
  rocAucScore,
} from "../src/metrics.js";

// Every expected value is scikit-learn 1.2.1's on the same vectors.
const yTrue = [0, 1, 2, 2, 1, 0, 1, 2, 2, 0, 1, 1];
const yPred = [0, 2, 2, 2, 1, 0, 0, 2, 1, 0, 1, 1];

describe("classification metrics", () => {
  it("accuracy", () => {
    expect(accuracyScore(yTrue, yPred)).toBe(0.75);
    expect(accuracyScore(["a", "b"], ["a", "a"])).toBe(0.5);
  });

  it("refuses labels of two types, as sklearn does, instead of scoring them a silent 0", () => {
    expect(() => accuracyScore([0, 1], ["no", "yes"])).toThrow(expect.objectContaining({ reason: "MIXED_LABEL_TYPES", message: "yTrue holds numbers and yPred strings: labels of one type are needed" }));
    expect(() => f1Score(["a", 1], ["a", "b"], { average: "macro" })).toThrow(/yTrue holds numbers and strings and yPred strings/);
  });

  it("precision, recall and F1 with macro, weighted and micro averages", () => {
    expect(precisionScore(yTrue, yPred, { average: "macro" })).toBeCloseTo(0.75, 14);
    expect(recallScore(yTrue, yPred, { average: "macro" })).toBeCloseTo(0.7833333333333333, 14);
    expect(f1Score(yTrue, yPred, { average: "macro" })).toBeCloseTo(0.7579365079365079, 14);
    expect(f1Score(yTrue, yPred, { average: "weighted" })).toBeCloseTo(0.742063492063492, 14);
    expect(recallScore(yTrue, yPred, { average: "weighted" })).toBeCloseTo(0.75, 14);
    for (const metric of [precisionScore, recallScore, f1Score]) expect(metric(yTrue, yPred, { average: "micro" })).toBeCloseTo(0.75, 14);
  });

  it("binary average with a string posLabel", () => {
    const t = ["n", "y", "y", "n", "y", "n", "y", "y"];
    const p = ["n", "y", "n", "n", "y", "y", "y", "y"];
    expect(precisionScore(t, p, { posLabel: "y" })).toBeCloseTo(0.8, 14);
    expect(recallScore(t, p, { posLabel: "y" })).toBeCloseTo(0.8, 14);
    expect(f1Score(t, p, { posLabel: "y" })).toBeCloseTo(0.8, 14);
    expect(() => precisionScore(t, p)).toThrow(/posLabel 1 is not one of the labels n, y/);
    expect(() => f1Score(yTrue, yPred)).toThrow(/average "binary" needs 2/);
  });

  it("undefined ratios count as 0, as sklearn's zero_division default", () => {
    expect(precisionScore([0, 0, 1], [0, 0, 0])).toBe(0);
    expect(f1Score([0, 0, 1], [0, 0, 0])).toBe(0);
  });

  it("confusion matrix, rows true and columns predicted, labels sorted", () => {
    expect(confusionMatrix(yTrue, yPred)).toEqual({
      labels: [0, 1, 2],
      counts: [
        [3, 0, 0],
        [1, 3, 1],
        [0, 1, 3],
      ],
    });
    expect(confusionMatrix(yTrue, yPred, { labels: [2, 0] }).counts).toEqual([
      [3, 0],
      [0, 3],
    ]);
  });
});

describe("ROC AUC and log loss", () => {
  const scores = [0.1, 0.4, 0.35, 0.8, 0.65, 0.2, 0.9, 0.5];
  const binary = [0, 0, 1, 1, 1, 0, 1, 0];
  const P = [
    [0.7, 0.2, 0.1],
    [0.1, 0.3, 0.6],
    [0.2, 0.5, 0.3],
    [0.3, 0.3, 0.4],
    [0.5, 0.25, 0.25],
    [0.1, 0.8, 0.1],
  ];

  it("binary ROC AUC, with tied scores counted half", () => {
    expect(rocAucScore(binary, scores)).toBeCloseTo(0.875, 14);
    expect(rocAucScore([0, 1, 0, 1, 1], [0.5, 0.5, 0.2, 0.8, 0.5])).toBeCloseTo(0.8333333333333333, 14);
    expect(rocAucScore(binary, Float64Array.from(scores))).toBeCloseTo(0.875, 14);
    const twoColumns = scores.map((s) => [1 - s, s]);
    expect(rocAucScore(binary, twoColumns)).toBeCloseTo(0.875, 14);
  });

  it("one-vs-rest ROC AUC for a probability matrix, macro and weighted", () => {
    expect(rocAucScore([0, 2, 1, 1, 0, 2], P)).toBeCloseTo(0.75, 14);
    expect(rocAucScore([0, 2, 1, 1, 0, 2], P, { average: "weighted" })).toBeCloseTo(0.75, 14);
  });

  it("log loss for a probability matrix and for positive-class probabilities", () => {
    expect(logLoss([0, 2, 1, 2, 0, 1], P)).toBeCloseTo(0.5655382020021631, 14);
    expect(logLoss(binary, scores)).toBeCloseTo(0.4176982473576425, 14);
    expect(Number.isFinite(logLoss([0, 1], [[1, 0], [1, 0]]))).toBe(true);
  });

  it("refuses what is not defined", () => {
    expect(() => rocAucScore([1, 1, 1], [0.1, 0.2, 0.3])).toThrow(/only one class/);
    expect(() => rocAucScore([0, 1, 2], [[0.1, 0.9], [0.5, 0.5], [0.3, 0.7]])).toThrow(/3 classes, yScore has 2 columns/);
    expect(() => logLoss([0, 1, 2], [0.2, 0.3, 0.4])).toThrow(/3 classes/);
  });
});

describe("regression metrics", () => {
  const t = [3.0, -0.5, 2.0, 7.0, 4.2];
  const p = [2.5, 0.0, 2.0, 8.0, 3.9];

  it("R², MSE and MAE", () => {
    expect(r2Score(t, p)).toBeCloseTo(0.9480256276150627, 14);
    expect(meanSquaredError(t, p)).toBeCloseTo(0.318, 14);
    expect(meanAbsoluteError(t, p)).toBeCloseTo(0.46, 14);
  });

  it("max error and the mean absolute percentage error (a fraction, a truth of 0 as the smallest double), as sklearn's", () => {
    expect(maxError(t, p)).toBe(1);
    expect(meanAbsolutePercentageError(t, p)).toBeCloseTo((0.5 / 3 + 0.5 / 0.5 + 0 + 1 / 7 + 0.3 / 4.2) / 5, 14);
    expect(meanAbsolutePercentageError([0, 1], [0, 1])).toBe(0);
    expect(meanAbsolutePercentageError([0], [1e-20])).toBeCloseTo(1e-20 / Number.EPSILON, 6);
  });

  it("R² of a constant target is 1 when exact and 0 otherwise (sklearn's force_finite)", () => {
    expect(r2Score([2, 2, 2], [2, 2, 2])).toBe(1);
    expect(r2Score([2, 2, 2], [2, 2, 3])).toBe(0);
  });
});

describe("metric input checks", () => {
  it("rejects mismatched lengths, empty input and non-finite regression values with InvalidInputError", () => {
    expect(() => accuracyScore([1, 2], [1])).toThrow(InvalidInputError);
    expect(() => accuracyScore([], [])).toThrow(/empty/);
    expect(() => r2Score([1, NaN], [1, 2])).toThrow(/NaN/);
    expect(() => meanSquaredError([1, 2], [1])).toThrow(/yPred has 1 rows, yTrue has 2/);
  });
});
