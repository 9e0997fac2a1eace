import { describe, expect, it } from "vitest";
import { classifierMetrics, needsProbabilities, regressorMetrics, wantedMetrics } from "../src/score-metrics.js";

// Every expected value is scikit-learn 1.2.1's on the same vectors.
const truth = [0, 1, 1, 0, 1, 1, 0, 0, 1, 0];
const predicted = [0, 1, 0, 0, 1, 1, 1, 0, 1, 1];
const positive = [0.2, 0.9, 0.4, 0.1, 0.8, 0.7, 0.6, 0.3, 0.95, 0.55];
const twoClasses = { data: Float64Array.from(positive.flatMap((p) => [1 - p, p])), classes: [0, 1] };

describe("a SCORE's metrics", () => {
  it("are accuracy, or r2, mse and mae, unless asked", () => {
    expect(classifierMetrics(undefined, truth, predicted)).toEqual({ accuracy: 0.7 });
    expect(regressorMetrics(undefined, [1, 2, 3], [1, 2, 4])).toEqual({ r2: 0.5, mse: 1 / 3, mae: 1 / 3 });
    expect(wantedMetrics({})).toBeUndefined();
    expect(wantedMetrics({ metrics: "all" })).toBe("all");
    expect(needsProbabilities(["f1"])).toBe(false);
    expect(needsProbabilities(["f1", "log_loss"])).toBe(true);
  });

  it("of two classes: of the greater label, with ROC AUC and log loss from the probabilities", () => {
    const all = classifierMetrics("all", truth, predicted, twoClasses);
    expect(Object.keys(all)).toEqual(["accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"]);
    expect(all.accuracy).toBe(0.7);
    expect(all.precision).toBeCloseTo(0.6666666666666666, 14);
    expect(all.recall).toBeCloseTo(0.8, 14);
    expect(all.f1).toBeCloseTo(0.7272727272727272, 14);
    expect(all.roc_auc).toBeCloseTo(0.92, 14);
    expect(all.log_loss).toBeCloseTo(0.40527404761751695, 12);
    // Labels as text: the greater one ("yes") is the positive class.
    const yes = (v: number) => (v ? "yes" : "no");
    expect(classifierMetrics(["f1"], truth.map(yes), predicted.map(yes))).toEqual({ f1: all.f1 });
  });

  it("of more classes: averaged, and ROC AUC one-vs-rest, the probability columns in the model's class order", () => {
    const t = ["a", "b", "c", "a", "b", "c", "a", "c"];
    const p = ["a", "b", "b", "a", "c", "c", "a", "a"];
    const rows = [[0.7, 0.2, 0.1], [0.1, 0.6, 0.3], [0.2, 0.5, 0.3], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.5, 0.2, 0.3]];
    // The model's columns in another order than sorted: c, a, b.
    const probabilities = { data: Float64Array.from(rows.flatMap(([a, b, c]) => [c!, a!, b!])), classes: ["c", "a", "b"] };
    const m = classifierMetrics(["f1_macro", "precision_weighted", "recall_macro", "f1_weighted", "roc_auc", "log_loss"], t, p, probabilities);
    expect(m.f1_macro).toBeCloseTo(0.5857142857142857, 14);
    expect(m.precision_weighted).toBeCloseTo(0.59375, 14);
    expect(m.recall_macro).toBeCloseTo(0.611111111111111, 14);
    expect(m.f1_weighted).toBeCloseTo(0.5964285714285714, 14);
    expect(m.roc_auc).toBeCloseTo(0.8916666666666666, 14);
    expect(m.log_loss).toBeCloseTo(0.696257887462683, 12);
    expect(Object.keys(classifierMetrics("all", t, p, probabilities))).toEqual(["accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc", "log_loss"]);
    expect(() => classifierMetrics(["f1"], t, p, probabilities)).toThrow(expect.objectContaining({ reason: "METRIC_NOT_DEFINED", message: expect.stringContaining("ask for f1_macro or f1_weighted") }));
  });

  it("of a regressor: RMSE, max error and MAPE too; a classifier's metric is not one of them", () => {
    const m = regressorMetrics("all", [3.0, -0.5, 2.0, 7.0, 4.2], [2.5, 0.0, 2.0, 8.0, 3.9]);
    expect(Object.keys(m)).toEqual(["r2", "mse", "rmse", "mae", "max_error", "mape"]);
    expect(m.rmse).toBeCloseTo(0.5639148871948674, 14);
    expect(m.max_error).toBe(1);
    expect(m.mape).toBeCloseTo(0.2761904761904762, 14);
    expect(() => regressorMetrics(["f1"], [1], [1])).toThrow(expect.objectContaining({ reason: "METRIC_NOT_DEFINED", message: expect.stringContaining("f1 is not a metric of a regressor") }));
    expect(() => classifierMetrics(["rmse"], [1], [1])).toThrow(expect.objectContaining({ reason: "METRIC_NOT_DEFINED" }));
    expect(() => classifierMetrics(["roc_auc"], [0, 1], [0, 1])).toThrow(expect.objectContaining({ reason: "NO_PROBABILITIES" }));
  });
});
