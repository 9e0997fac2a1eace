import { describe, expect, it } from "vitest";
import { camelKeys } from "../src/fit.js";

describe("job params for Kiln's estimators", () => {
  it("camel-cases sklearn's snake_case names, each side of a Pipeline's step__param separator", () => {
    expect(camelKeys({ fit_intercept: true, C: 1, max_iter: 5, hidden_layer_sizes: [8] })).toEqual({ fitIntercept: true, C: 1, maxIter: 5, hiddenLayerSizes: [8] });
    expect(camelKeys({ lr__fit_intercept: false, scale__copy: true, lr__C: 0.5, mlp__max_iter: 3 })).toEqual({ lr__fitIntercept: false, scale__copy: true, lr__C: 0.5, mlp__maxIter: 3 });
  });
});
