import { afterAll, describe, expect, it } from "vitest";
import { binaryClassifierOnnx, linearRegressorOnnx, onnxModelKey, OnnxGraphBuilder, OnnxWorkerPool } from "../src/index.js";
import { dot, expectRelativelyClose, randomRows } from "./helpers.js";

describe("reference models in onnxruntime", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("the linear regressor computes X·coef + intercept", async () => {
    const coef = [0.5, -1.25, 2, 3.5];
    const intercept = -0.75;
    const { rows, data } = randomRows(7, 50, coef.length);
    const { variable } = await pool.run(linearRegressorOnnx(coef, intercept), { X: { type: "float32", dims: [50, 4], data } });
    expect(variable.type).toBe("float32");
    expect(variable.dims).toEqual([50, 1]);
    rows.forEach((row, i) => expectRelativelyClose(variable.data[i] as number, dot(row, coef) + intercept));
  });

  it("the classifier gives logistic probabilities and the more likely label", async () => {
    const coef = [1.5, -2];
    const intercept = 0.25;
    const labels: [string, string] = ["stays", "churns"];
    const { rows, data } = randomRows(11, 20, 2);
    // A point exactly on the boundary: p = 0.5 goes to the first label, as scikit-learn's predict does.
    const X = Float32Array.of(...data, 0, 0.125);
    const out = await pool.run(binaryClassifierOnnx(coef, intercept, labels), { X: { type: "float32", dims: [21, 2], data: X } });
    expect(out.probabilities.dims).toEqual([21, 2]);
    expect(out.label).toMatchObject({ type: "string", dims: [21] });
    const expected = [...rows, [0, 0.125]].map((row) => 1 / (1 + Math.exp(-(dot(row, coef) + intercept))));
    expected.forEach((p1, i) => {
      expectRelativelyClose(out.probabilities.data[2 * i] as number, 1 - p1);
      expectRelativelyClose(out.probabilities.data[2 * i + 1] as number, p1);
      expect(out.label.data[i]).toBe(p1 > 0.5 ? "churns" : "stays");
    });
    expect(out.label.data[20]).toBe("stays");
    if (out.label.type !== "string") throw new Error(`label is a ${out.label.type} tensor`);
    expect(new Set(out.label.data)).toEqual(new Set(labels));
  });

  it("runs a model again by its key, and only the outputs asked for", async () => {
    const bytes = binaryClassifierOnnx([1], 0, ["a", "b"]);
    const X = { type: "float32" as const, dims: [2, 1], data: Float32Array.of(-3, 3) };
    await pool.run(bytes, { X });
    const out = await pool.run(onnxModelKey(bytes), { X }, ["label"]);
    expect(Object.keys(out)).toEqual(["label"]);
    expect(out.label.data).toEqual(["a", "b"]);
    expect(X.data).toEqual(Float32Array.of(-3, 3)); // the caller's feed was copied, not transferred away
  });

  it("moves int64 (BigInt64Array) and bool tensors between threads", async () => {
    const bytes = new OnnxGraphBuilder({ opset: 17 })
      .input("A", "int64", ["N"])
      .input("B", "bool", ["N"])
      .initializer("ten", BigInt64Array.of(10n), [1])
      .node("Add", ["A", "ten"], ["C"])
      .node("Not", ["B"], ["D"])
      .output("C", "int64", ["N"])
      .output("D", "bool", ["N"])
      .toBytes();
    const out = await pool.run(bytes, {
      A: { type: "int64", dims: [2], data: BigInt64Array.of(-11n, 2n ** 53n + 1n) },
      B: { type: "bool", dims: [2], data: Uint8Array.of(1, 0) },
    });
    expect(out.C).toEqual({ type: "int64", dims: [2], data: BigInt64Array.of(-1n, 2n ** 53n + 11n) });
    expect(out.D).toEqual({ type: "bool", dims: [2], data: Uint8Array.of(0, 1) });
  });
});
