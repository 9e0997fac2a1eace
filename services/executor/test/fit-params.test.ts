import { describe, expect, it } from "vitest";
import { camelKeys } from "@kiln/ml";
import { plannedEpochs } from "../src/fit.js";

describe("job params for Kiln's estimators", () => {
  it("camel-cases sklearn's snake_case names, each side of a Pipeline's step__param separator", () => {
    expect(camelKeys({ fit_intercept: true, C: 1, max_iter: 5, hidden_layer_sizes: [8] })).toEqual({ fitIntercept: true, C: 1, maxIter: 5, hiddenLayerSizes: [8] });
    expect(camelKeys({ lr__fit_intercept: false, scale__copy: true, lr__C: 0.5, mlp__max_iter: 3 })).toEqual({ lr__fitIntercept: false, scale__copy: true, lr__C: 0.5, mlp__maxIter: 3 });
  });

  it("plans a fit's epochs from its params and their defaults (for the progress fraction)", () => {
    expect(plannedEpochs("MLPClassifier", { maxIter: 5 })).toBe(5);
    expect(plannedEpochs("sgd_regressor", {})).toBe(1000);
    expect(plannedEpochs("KMeans", {})).toBe(1); // nInit "auto" with k-means++
    expect(plannedEpochs("KMeans", { init: "random" })).toBe(10);
    expect(plannedEpochs("KMeans", { nInit: 3 })).toBe(3);
    expect(plannedEpochs("LinearRegression", {})).toBeUndefined();
    expect(plannedEpochs("Pipeline", {})).toBeUndefined();
    expect(plannedEpochs("MLPClassifier", { nope: 1 })).toBeUndefined();
  });
});
