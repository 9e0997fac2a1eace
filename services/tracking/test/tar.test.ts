import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { onnxFileOf } from "../src/mlflow-model-source.js";
import { tarStream, type TarEntry } from "../src/tar.js";

const run = promisify(execFile);

function entry(path: string, bytes: Uint8Array, pieces = 1): TarEntry {
  return {
    path,
    size: bytes.length,
    async *bytes() {
      const step = Math.ceil(bytes.length / pieces) || 1;
      for (let at = 0; at < bytes.length; at += step) yield bytes.subarray(at, at + step);
    },
  };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of stream) parts.push(p);
  return Buffer.concat(parts);
}

describe("tarStream", () => {
  let dir: string;
  beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), "kiln-tar-"))));
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it("writes an archive GNU tar lists and extracts byte for byte, long and non-ASCII paths through PAX headers", async () => {
    const long = `${"deep/".repeat(30)}weights.bin`;
    const files: [string, Uint8Array][] = [
      ["MLmodel", Buffer.from("flavors:\n  sklearn: {}\n")],
      ["empty", new Uint8Array()],
      ["exactly-a-block", randomBytes(512)],
      [long, randomBytes(70_001)],
      ["données/modèle.pkl", randomBytes(1_000)],
    ];
    const archive = await collect(tarStream(files.map(([path, bytes]) => entry(path, bytes, 3)), new Date(0)));
    expect(archive.length % 512).toBe(0);
    const file = join(dir, "a.tar");
    await writeFile(file, archive);
    expect((await run("tar", ["-tf", file])).stdout.trim().split("\n")).toEqual(files.map(([path]) => path));
    await run("tar", ["-xf", file, "-C", dir]);
    for (const [path, bytes] of files) expect((await readFile(join(dir, path))).equals(Buffer.from(bytes)), path).toBe(true);
  });

  it("fails a file that streams other than its stated size rather than write a broken archive", async () => {
    const lying: TarEntry = { path: "x", size: 10, bytes: async function* () { yield new Uint8Array(4); } };
    await expect(collect(tarStream([lying], new Date(0)))).rejects.toThrow("x streamed 4 bytes, not the 10 its header says");
  });
});

describe("onnxFileOf", () => {
  it("finds the file an MLmodel's onnx flavor names, and nothing in other flavors", () => {
    expect(onnxFileOf("artifact_path: model\nflavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.14.0\n  python_function:\n    data: other.onnx\nmlflow_version: 2.7.1\n")).toBe("model.onnx");
    expect(onnxFileOf("flavors:\n  python_function:\n    data: model.onnx\n  onnx:\n    data: 'nested/m.onnx'\n")).toBe("nested/m.onnx");
    expect(onnxFileOf("flavors:\n  python_function:\n    data: model.onnx\n  sklearn:\n    pickled_model: model.pkl\n")).toBeUndefined();
    expect(onnxFileOf("data: model.onnx\n")).toBeUndefined();
  });
});
