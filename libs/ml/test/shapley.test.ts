import { describe, expect, it } from "vitest";
import { MAX_EXACT_FEATURES, ShapleyExplainer, type BatchModel } from "../src/inspection/shapley.js";

/** A model of one output from a function of a row, counting the rows it is asked. */
function modelOf(f: (x: Float64Array) => number[], width: number): BatchModel & { rowsAsked: number; calls: number } {
  const model = Object.assign(
    async (rows: Float64Array | Float32Array, count: number) => {
      model.rowsAsked += count;
      model.calls++;
      const out: number[] = [];
      for (let i = 0; i < count; i++) out.push(...f(Float64Array.from(rows.subarray(i * width, (i + 1) * width))));
      return Float64Array.from(out);
    },
    { rowsAsked: 0, calls: 0 },
  );
  return model;
}

const weights = [2, -1, 0.5, 3];
const linear = (x: Float64Array) => [weights.reduce((s, w, j) => s + w * x[j]!, 0.25)];
const background = Float64Array.from([0, 1, 2, 3, 4, 0, 1, 5, -2, 2, 2, 1]); // 3 rows of 4
const backgroundMean = [2 / 3, 1, 5 / 3, 3];

describe("Shapley values", () => {
  it("of a linear model are each weight times the feature's distance from the background's mean, for both methods", async () => {
    const x = Float64Array.from([1, 2, 3, 4, -1, 0, 0, 10]);
    for (const method of ["exact", "permutation"] as const) {
      const explainer = new ShapleyExplainer(modelOf(linear, 4), background, 4, { method, permutations: 3 });
      expect(explainer.method).toBe(method);
      const { values, outputs } = await explainer.explain(x, 2);
      const base = (await explainer.base())[0]!;
      expect(base).toBeCloseTo(linear(Float64Array.from(backgroundMean))[0]!, 12);
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 4; j++) expect(values[i * 4 + j]).toBeCloseTo(weights[j]! * (x[i * 4 + j]! - backgroundMean[j]!), 12);
        expect(outputs[i]).toBeCloseTo(linear(x.subarray(i * 4, i * 4 + 4))[0]!, 12);
      }
    }
  });

  it("share an interaction between the features it joins, as worked out by hand", async () => {
    // v(∅) = mean(0·0, 2·2) = 2, v({x0}) = mean(1·0, 1·2) = 1, v({x1}) = mean(0·3, 2·3) = 3, v(both) = 3.
    const product = modelOf((x) => [x[0]! * x[1]!], 2);
    const explainer = new ShapleyExplainer(product, Float64Array.from([0, 0, 2, 2]), 2, { method: "exact" });
    const { values, outputs } = await explainer.explain(Float64Array.from([1, 3]), 1);
    expect([...values]).toEqual([-0.5, 1.5]); // ½((1 − 2) + (3 − 3)) and ½((3 − 2) + (3 − 1))
    expect(outputs[0]).toBe(3);
    // Two features have two orders, one sampled ordering and its reverse: the permutation method is exact too.
    const sampled = await new ShapleyExplainer(product, Float64Array.from([0, 0, 2, 2]), 2, { method: "permutation", permutations: 1 }).explain(Float64Array.from([1, 3]), 1);
    expect([...sampled.values]).toEqual([-0.5, 1.5]);
  });

  it("add up to the row's output less the base value, exactly, and sampled orderings come near the exact values", async () => {
    const f = (x: Float64Array) => [x[0]! * x[1]! + Math.sin(x[2]!) * x[0]! - x[3]! ** 2, Math.exp(-x[1]! * x[2]!)];
    const x = Float64Array.from([0.5, -1, 2, 1, 1.5, 0.2, -0.7, 0]);
    const exact = await new ShapleyExplainer(modelOf(f, 4), background, 4, { method: "exact" }).explain(x, 2);
    const explainer = new ShapleyExplainer(modelOf(f, 4), background, 4, { method: "permutation", permutations: 300, randomState: 7 });
    const sampled = await explainer.explain(x, 2);
    const base = await explainer.base();
    for (const { values, outputs } of [exact, sampled]) {
      for (let i = 0; i < 2; i++) {
        for (let o = 0; o < 2; o++) {
          let sum = base[o]!;
          for (let j = 0; j < 4; j++) sum += values[(i * 4 + j) * 2 + o]!;
          expect(sum).toBeCloseTo(outputs[i * 2 + o]!, 10);
        }
      }
    }
    for (let v = 0; v < exact.values.length; v++) expect(Math.abs(sampled.values[v]! - exact.values[v]!)).toBeLessThan(0.1);
  });

  it("of a row do not depend on the rows explained with it or on how the model calls are cut", async () => {
    const f = (x: Float64Array) => [x[0]! * x[1]! * x[2]! + x[3]!];
    const rows = Float64Array.from({ length: 5 * 4 }, (_, i) => Math.cos(i));
    const together = await new ShapleyExplainer(modelOf(f, 4), background, 4, { method: "permutation", randomState: 3 }).explain(rows, 5);
    const apart = new ShapleyExplainer(modelOf(f, 4), background, 4, { method: "permutation", randomState: 3, maxBatchRows: 7, concurrency: 3 });
    for (let i = 0; i < 5; i++) {
      const one = await apart.explain(rows.subarray(i * 4, i * 4 + 4), 1, i);
      expect([...one.values]).toEqual([...together.values.subarray(i * 4, i * 4 + 4)]);
    }
    const otherSeed = await new ShapleyExplainer(modelOf(f, 4), background, 4, { method: "permutation", randomState: 4 }).explain(rows, 5);
    expect([...otherSeed.values]).not.toEqual([...together.values]);
  });

  it("ask the model for each coalition's rows against the whole background, in calls of at most maxBatchRows", async () => {
    const model = modelOf(linear, 4);
    const explainer = new ShapleyExplainer(model, background, 4, { method: "exact", maxBatchRows: 9 });
    expect(explainer.rowsPerExplainedRow).toBe(14 * 3); // 2^4 − 2 coalitions, 3 background rows each
    await explainer.explain(Float64Array.from([1, 2, 3, 4]), 1);
    // The background once (the base), the row itself, then 14 coalitions three at a time.
    expect(model.rowsAsked).toBe(3 + 1 + 42);
    expect(model.calls).toBe(1 + 1 + 5);
  });

  it("build the model's rows where `allocate` says, float32 for a model that takes it", async () => {
    const seen: string[] = [];
    const model: BatchModel = async (rows, count) => {
      seen.push(rows.constructor.name);
      return Float64Array.from({ length: count }, (_, i) => linear(Float64Array.from(rows.subarray(i * 4, i * 4 + 4)))[0]!);
    };
    const x = Float64Array.from([1, 2, 3, 4]);
    const explainer = new ShapleyExplainer(model, background, 4, { method: "exact", allocate: (n) => new Float32Array(n) });
    const { values } = await explainer.explain(x, 1);
    expect(seen).toEqual(["Float64Array", "Float64Array", "Float32Array"]); // the background, the row, then its coalitions in one call
    for (let j = 0; j < 4; j++) expect(values[j]).toBeCloseTo(weights[j]! * (x[j]! - backgroundMean[j]!), 5);
  });

  it("stop between model calls once their signal is aborted, with its reason", async () => {
    const controller = new AbortController();
    const model = modelOf(linear, 4);
    const slow: BatchModel = async (rows, count) => {
      if (model.calls === 4) controller.abort(new Error("cancelled"));
      return model(rows, count);
    };
    const stopping = new ShapleyExplainer(slow, background, 4, { method: "exact", maxBatchRows: 3, concurrency: 1, signal: controller.signal });
    await expect(stopping.explain(Float64Array.from([1, 2, 3, 4]), 1)).rejects.toThrow("cancelled");
    expect(model.calls).toBeLessThan(1 + 2 + 14); // the base and the row, then a few of the 14 coalitions' calls
  });

  it("take exact values when they cost no more model rows than the orderings", () => {
    const exactFor = (width: number, permutations?: number) => new ShapleyExplainer(modelOf(() => [0], width), new Float64Array(width), width, { permutations }).method;
    expect(exactFor(1)).toBe("exact");
    expect(exactFor(6)).toBe("exact"); // 62 coalitions against 2·10·5 = 100 prefixes
    expect(exactFor(7)).toBe("permutation"); // 126 against 120
    expect(exactFor(7, 20)).toBe("exact");
    expect(exactFor(40)).toBe("permutation");
  });

  it("refuse shapes that do not fit and exact values over too many features", async () => {
    expect(() => new ShapleyExplainer(modelOf(linear, 4), Float64Array.from([1, 2, 3]), 4)).toThrow(/3 values, not rows of 4/);
    expect(() => new ShapleyExplainer(modelOf(linear, 4), new Float64Array(0), 4)).toThrow(RangeError);
    const wide = MAX_EXACT_FEATURES + 1;
    expect(() => new ShapleyExplainer(modelOf(() => [0], wide), new Float64Array(wide), wide, { method: "exact" })).toThrow(`at most ${MAX_EXACT_FEATURES} features, not ${wide}`);
    expect(() => new ShapleyExplainer(modelOf(linear, 4), background, 4, { permutations: 0 })).toThrow(/permutations must be a positive integer/);
    await expect(new ShapleyExplainer(modelOf(linear, 4), background, 4).explain(Float64Array.from([1, 2]), 1)).rejects.toThrow(/1 rows of 4 features are 4 values, not 2/);
  });
});
