import { afterAll, describe, expect, it } from "vitest";
import { binaryClassifierOnnx, inspectOnnx, OnnxWorkerPool, withFloatOutputs, zipMapClassifierOnnx, zipMapSource } from "../src/index.js";
import { randomRows } from "./helpers.js";

describe("ZipMap outputs (sklearn-onnx's default for classifier probabilities)", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());
  const coef = [1.5, -2];
  const labels: [string, string] = ["stays", "churns"];
  const model = zipMapClassifierOnnx(coef, 0.25, labels);

  it("finds the probability tensor a ZipMap output is made from, with ZipMap's class labels", () => {
    expect(inspectOnnx(model).outputs.map((o) => o.type)).toEqual(["tensor(string)[N]", "seq(map(string,tensor(float32)))"]);
    expect(zipMapSource(model, "output_probability")).toEqual({ tensor: "probabilities", classes: ["stays", "churns"] });
    expect(zipMapSource(model, "output_label")).toBeUndefined();
    expect(zipMapSource(model, "nothing")).toBeUndefined();
  });

  it("adds that tensor to the graph's outputs, which onnxruntime then returns: the same probabilities as the plain classifier's", async () => {
    const exposed = withFloatOutputs(model, ["probabilities"]);
    expect(inspectOnnx(exposed).outputs.map((o) => [o.name, o.type])).toEqual([
      ["output_label", "tensor(string)[N]"],
      ["output_probability", "seq(map(string,tensor(float32)))"],
      ["probabilities", "tensor(float32)"],
    ]);
    expect(withFloatOutputs(exposed, ["probabilities"])).toEqual(exposed); // already an output: unchanged
    const { data } = randomRows(3, 40, 2);
    const X = { type: "float32" as const, dims: [40, 2], data };
    await expect(pool.run(model, { X }, ["output_probability"])).rejects.toThrow(/Non tensor type/);
    const zipped = await pool.run(exposed, { X }, ["probabilities", "output_label"]);
    const plain = await pool.run(binaryClassifierOnnx(coef, 0.25, labels), { X });
    expect(zipped.probabilities!.dims).toEqual([40, 2]);
    Array.from(plain.probabilities!.data as Float32Array).forEach((p, i) => expect(zipped.probabilities!.data[i]).toBeCloseTo(p, 6));
    expect(zipped.output_label!.data).toEqual(plain.label!.data);
  });
});
