import { afterAll, describe, expect, it } from "vitest";
import {
  checkOnnxLoads,
  linearRegressorOnnx,
  OnnxFormatError,
  OnnxGraphBuilder,
  OnnxPoolError,
  OnnxRunError,
  OnnxWorkerPool,
} from "../src/index.js";

const unknownOp = new OnnxGraphBuilder({ opset: 17 }).input("X", "float32", ["N"]).node("NoSuchOp", ["X"], ["Y"]).output("Y", "float32", ["N"]).toBytes();
const mismatchedTypes = new OnnxGraphBuilder({ opset: 17 })
  .input("X", "float32", ["N"])
  .initializer("b", BigInt64Array.of(1n), [1])
  .node("Add", ["X", "b"], ["Y"])
  .output("Y", "float32", ["N"])
  .toBytes();

describe("loading in onnxruntime", () => {
  const pool = new OnnxWorkerPool();
  afterAll(() => pool.close());

  it("checkOnnxLoads accepts a good model with its own short-lived pool", async () => {
    await expect(checkOnnxLoads(linearRegressorOnnx([1, 2], 3))).resolves.toBeUndefined();
  });

  it("rejects an unknown op type with onnxruntime's reason", async () => {
    const err = await pool.check(unknownOp).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect((err as Error).message).toMatch(/No Op registered for NoSuchOp/);
    expect((err as Error).message.length).toBeLessThanOrEqual(450);
  });

  it("rejects mismatched input types, also through checkOnnxLoads", async () => {
    await expect(checkOnnxLoads(mismatchedTypes, pool)).rejects.toThrow(OnnxFormatError);
    await expect(checkOnnxLoads(mismatchedTypes)).rejects.toThrow(/bound to different types/);
  });

  it("rejects garbage bytes", async () => {
    await expect(pool.check(new TextEncoder().encode("not a model"))).rejects.toThrow(OnnxFormatError);
  });

  it("run reports a model that does not load as OnnxFormatError, every time", async () => {
    const feeds = { X: { type: "float32" as const, dims: [1], data: Float32Array.of(1) } };
    await expect(pool.run(unknownOp, feeds)).rejects.toThrow(OnnxFormatError);
    await expect(pool.run(unknownOp, feeds)).rejects.toThrow(OnnxFormatError);
  });

  it("run reports feeds that do not fit as OnnxRunError", async () => {
    const model = linearRegressorOnnx([1, 2], 0);
    const wrongWidth = { X: { type: "float32" as const, dims: [1, 3], data: Float32Array.of(1, 2, 3) } };
    await expect(pool.run(model, wrongWidth)).rejects.toThrow(OnnxRunError);
    await expect(pool.run("0".repeat(64), wrongWidth)).rejects.toThrow(OnnxPoolError);
  });

  it("stays usable after failures", async () => {
    await expect(pool.check(unknownOp)).rejects.toThrow(OnnxFormatError);
    const out = await pool.run(linearRegressorOnnx([2], 1), { X: { type: "float32", dims: [1, 1], data: Float32Array.of(4) } });
    expect(out.variable.data).toEqual(Float32Array.of(9));
  });
});
