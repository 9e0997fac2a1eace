import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxFormatError, OnnxGraphBuilder, checkOnnxFileInProcess, linearRegressorOnnx, onnxCheckers } from "../src/index.js";

describe("checking a model file in a child process", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-onnx-check-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("passes a model onnxruntime loads, with its summary", async () => {
    const path = join(dir, "ok.onnx");
    await writeFile(path, linearRegressorOnnx([1, 2], 0.5));
    const summary = await checkOnnxFileInProcess(path);
    expect(summary.inputs).toMatchObject([{ name: "X", kind: "tensor", elementType: "float32", shape: ["N", 2] }]);
    expect(summary.outputs.map((o) => o.name)).toEqual(["variable"]);
  });

  it("rejects a model onnxruntime refuses, with its reason", async () => {
    const g = new OnnxGraphBuilder({ opset: 17 });
    g.input("X", "float32", ["N", 2]);
    g.node("NoSuchOp", ["X"], ["Y"]);
    g.output("Y", "float32", ["N", 2]);
    const path = join(dir, "bad.onnx");
    await writeFile(path, g.toBytes());
    const err = await checkOnnxFileInProcess(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect((err as Error).message).toMatch(/NoSuchOp/);
  });

  it("rejects bytes that are no model at all", async () => {
    const path = join(dir, "text.onnx");
    await writeFile(path, "this is not a model\n");
    const err = await checkOnnxFileInProcess(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect((err as Error).message).not.toMatch(/onnxruntime/); // caught by the parser, before the runtime
  });

  it("keeps a spare checker started ahead; one check's failure does not spoil the next", async () => {
    const checkers = onnxCheckers();
    try {
      const bad = join(dir, "spare-bad.onnx");
      await writeFile(bad, "not a model");
      await expect(checkers.start().check(bad)).rejects.toBeInstanceOf(OnnxFormatError);
      const files = [join(dir, "spare-1.onnx"), join(dir, "spare-2.onnx")]; // a skeleton is written beside its file
      for (const f of files) await writeFile(f, linearRegressorOnnx([1, 2], 0.5));
      const both = [checkers.start(), checkers.start()]; // the second starts its own
      const summaries = await Promise.all(both.map((p, i) => p.check(files[i]!)));
      const shapes = summaries.map((s) => {
        const input = s.inputs[0]!;
        if (input.kind !== "tensor") throw new Error(`input ${input.name} is a ${input.kind}, not a tensor`);
        return input.shape;
      });
      expect(shapes).toEqual([
        ["N", 2],
        ["N", 2],
      ]);
    } finally {
      checkers.close();
    }
  });
});
