import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataLocation } from "onnx-buf";
import { InferenceSession, Tensor } from "onnxruntime-node";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OnnxFormatError, OnnxGraphBuilder, checkOnnxFileInProcess, inspectOnnx, writeOnnxSkeleton, writeOnnxSkeletonOfParts } from "../src/index.js";
import { randomRows } from "./helpers.js";

const K = 64;

/** Y = X · W + B with a 16 KiB weight matrix (left out of the skeleton) and a small bias (kept inline). */
function denseModel(): Uint8Array {
  const { data: w } = randomRows(1, K, K);
  const g = new OnnxGraphBuilder({ opset: 17, producer: "skeleton-test" });
  g.input("X", "float32", ["N", K]);
  g.initializer("W", w, [K, K]);
  g.initializer("B", Float32Array.from({ length: K }, (_, i) => i / 10), [K]);
  g.node("MatMul", ["X", "W"], ["XW"]);
  g.node("Add", ["XW", "B"], ["Y"]);
  g.output("Y", "float32", ["N", K]);
  return g.toBytes();
}

async function predict(model: string | Uint8Array, x: Float32Array): Promise<Float32Array> {
  const session = typeof model === "string" ? await InferenceSession.create(model) : await InferenceSession.create(model);
  try {
    const { Y } = await session.run({ X: new Tensor("float32", x, [x.length / K, K]) });
    return Y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("ONNX skeletons (weights mapped from the uploaded file)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-onnx-skeleton-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("describes and runs exactly like the model it stands for", async () => {
    const bytes = denseModel();
    const path = join(dir, "dense.onnx");
    await writeFile(path, bytes);
    const skeletonPath = join(dir, "dense.skeleton.onnx");
    const skeleton = await writeOnnxSkeleton(path, skeletonPath);

    expect(skeleton.length).toBeLessThan(1024);
    expect((await stat(skeletonPath)).size).toBe(skeleton.length);
    expect(inspectOnnx(skeleton)).toEqual(inspectOnnx(bytes));
    const weights = fromBinary(ModelProtoSchema, skeleton).graph!.initializer;
    expect(weights.find((t) => t.name === "W")!.dataLocation).toBe(TensorProto_DataLocation.EXTERNAL);
    expect(weights.find((t) => t.name === "B")!.rawData.length).toBe(K * 4);

    const { data: x } = randomRows(2, 5, K);
    expect(await predict(skeletonPath, x)).toEqual(await predict(bytes, x));
  });

  it("refuses a file cut off in the middle of its weights", async () => {
    const bytes = denseModel();
    const path = join(dir, "cut.onnx");
    await writeFile(path, bytes.subarray(0, bytes.length - 2000));
    const err = await writeOnnxSkeleton(path, join(dir, "cut.skeleton.onnx")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect((err as Error).message).toMatch(/protobuf decoding failed/);
  });

  it("refuses a model that keeps its weights in external files", async () => {
    const model = fromBinary(ModelProtoSchema, denseModel());
    model.graph!.initializer[0]!.dataLocation = TensorProto_DataLocation.EXTERNAL;
    const path = join(dir, "external.onnx");
    await writeFile(path, toBinary(ModelProtoSchema, model));
    await expect(writeOnnxSkeleton(path, join(dir, "external.skeleton.onnx"))).rejects.toThrow(/external data/);
  });

  it("lets onnxruntime catch weights that do not fill their shape", async () => {
    const g = new OnnxGraphBuilder({ opset: 17 });
    g.input("X", "float32", ["N"]);
    g.initializer("W", randomRows(3, K, K).data, [K * K]);
    g.node("Identity", ["W"], ["Y"]);
    g.output("Y", "float32", ["M"]);
    const model = fromBinary(ModelProtoSchema, g.toBytes());
    model.graph!.initializer[0]!.dims = [BigInt(K * K + 1)];
    const path = join(dir, "short.onnx");
    await writeFile(path, toBinary(ModelProtoSchema, model));
    const err = await checkOnnxFileInProcess(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OnnxFormatError);
    expect((err as Error).message).toMatch(/size mismatch/);
    await expect(readFile(`${path}.skeleton.onnx`)).rejects.toThrow(/ENOENT/); // the skeleton is cleaned up
  });

  describe("of a model stored as consecutive parts (a registry's chunks)", () => {
    /** The model cut at `cuts` (inside a field's tag, inside the weights, one byte from the end) into part files. */
    async function partsOf(bytes: Uint8Array, name: string, cuts: number[]): Promise<string[]> {
      const bounds = [0, ...cuts, bytes.length];
      const paths: string[] = [];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const path = join(dir, `${name}.part${i}`);
        await writeFile(path, bytes.subarray(bounds[i], bounds[i + 1]));
        paths.push(path);
      }
      return paths;
    }

    it("reads the parts in place and points the weights at a sparse file as long as the model", async () => {
      const bytes = denseModel();
      const parts = await partsOf(bytes, "dense", [1, 40, 3000, 3000, bytes.length - 1]);
      const skeletonPath = join(dir, "parts.skeleton.onnx");
      const weightsPath = join(dir, "parts.weights");
      const skeleton = await writeOnnxSkeletonOfParts(parts, skeletonPath, weightsPath);

      expect(inspectOnnx(skeleton)).toEqual(inspectOnnx(bytes));
      const whole = join(dir, "whole.onnx");
      await writeFile(whole, bytes);
      const external = (model: Uint8Array) =>
        fromBinary(ModelProtoSchema, model).graph!.initializer.map((t) => [t.name, t.externalData.map((e) => [e.key, e.value === "whole.onnx" ? "parts.weights" : e.value])]);
      expect(external(skeleton)).toEqual(external(await writeOnnxSkeleton(whole, join(dir, "whole.skeleton.onnx")))); // same offsets into the model
      const weights = await stat(weightsPath);
      expect(weights.size).toBe(bytes.length);
      expect(weights.blocks).toBe(0); // nothing written: a hole
      const session = await InferenceSession.create(skeletonPath); // onnxruntime finds every weight's bytes
      await session.release();
    });

    it("is checked in a child process, which leaves nothing in its work folder", async () => {
      const bytes = denseModel();
      const workDir = join(dir, "work");
      await mkdir(workDir, { recursive: true });
      const summary = await checkOnnxFileInProcess({ parts: await partsOf(bytes, "checked", [100, 9000]), workDir });
      expect(summary).toEqual(inspectOnnx(bytes));
      expect(await readdir(workDir)).toEqual([]);
    });

    it("refuses parts that end before the model does", async () => {
      const bytes = denseModel();
      const parts = await partsOf(bytes, "cut", [5000, bytes.length - 100]);
      const err = await checkOnnxFileInProcess({ parts: parts.slice(0, -1), workDir: dir }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OnnxFormatError);
      expect((err as Error).message).toMatch(/protobuf decoding failed/);
    });
  });
});
