import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { attr, binaryClassifierOnnx, linearRegressorOnnx, NonFiniteInputError, onnxModelKey, OnnxGraphBuilder, OnnxPoolError, OnnxWorkerPool } from "../src/index.js";
import { packForTransfer } from "../src/tensor-data.js";
import { dot, expectRelativelyClose, randomRows } from "./helpers.js";

const runNode = promisify(execFile);
const distIndex = new URL("../dist/index.js", import.meta.url).href;

describe("OnnxWorkerPool", () => {
  it("answers concurrent runs of different models on several workers", async () => {
    const pool = new OnnxWorkerPool({ size: 3, cacheSize: 2, intraOpNumThreads: 1 });
    try {
      const calls = Array.from({ length: 24 }, (_, i) => {
        const coef = [i, 1, -i / 2];
        const { rows, data } = randomRows(i, 5, 3);
        const run = pool.run(linearRegressorOnnx(coef, i % 5), { X: { type: "float32", dims: [5, 3], data } });
        return run.then((out) => rows.forEach((row, r) => expectRelativelyClose(out.variable.data[r] as number, dot(row, coef) + (i % 5))));
      });
      await Promise.all(calls);
    } finally {
      await pool.close();
    }
  });

  it("keeps the caller's bytes whole when a model given as a Node Buffer is loaded in several workers", async () => {
    const pool = new OnnxWorkerPool({ size: 2, intraOpNumThreads: 1 });
    try {
      const onnx = linearRegressorOnnx([2, 1], 1);
      const model = Buffer.allocUnsafeSlow(onnx.length); // as a file read from disk: a Buffer whose slice() is a view, not a copy
      model.set(onnx);
      const before = Buffer.from(model);
      const feeds = { X: { type: "float32" as const, dims: [1, 2], data: Float32Array.of(1, 1) } };
      const outs = await Promise.all([pool.run(model, feeds), pool.run(model, feeds), pool.run(model, feeds)]);
      expect(outs.map((o) => o.variable.data[0])).toEqual([4, 4, 4]);
      expect(model.equals(before)).toBe(true);
      const data = Buffer.allocUnsafeSlow(3); // a Buffer as tensor data is copied before it is transferred, too
      data.set([1, 2, 3]);
      const packed = packForTransfer({ X: { type: "uint8", dims: [3], data } });
      structuredClone(packed.tensors, { transfer: packed.transfer });
      expect(Array.from(data)).toEqual([1, 2, 3]);
    } finally {
      await pool.close();
    }
  });

  it("runs feeds kept in shared memory without copying them on the caller's side", async () => {
    const pool = new OnnxWorkerPool({ size: 2, intraOpNumThreads: 1 });
    try {
      const model = linearRegressorOnnx([2, 1], 1);
      // A view at an offset into a reused shared buffer, as the executor's feed buffers are.
      const shared = new SharedArrayBuffer(64);
      const data = new Float32Array(shared, 8, 4);
      data.set([1, 1, 3, 2]);
      const packed = packForTransfer({ X: { type: "float32", dims: [2, 2], data } });
      const packedX = packed.tensors.X!;
      if (!("data" in packedX)) throw new Error("packed as columns");
      expect(packedX.data).toBe(data);
      expect(packed.transfer).toEqual([]);
      const out = await pool.run(model, { X: { type: "float32", dims: [2, 2], data } });
      expect(Array.from(out.variable.data as Float32Array)).toEqual([4, 9]);
      data.set([0, 0, 1, 1]);
      expect(Array.from((await pool.run(model, { X: { type: "float32", dims: [2, 2], data } })).variable.data as Float32Array)).toEqual([1, 4]);
    } finally {
      await pool.close();
    }
  });

  it("copies shared feeds into memory the worker reuses, without one run's rows reaching another's", async () => {
    const pool = new OnnxWorkerPool({ size: 1, intraOpNumThreads: 1 });
    try {
      const model = linearRegressorOnnx([2, 1], 1);
      const feed = (rows: number, seed: number) => {
        const data = new Float32Array(new SharedArrayBuffer(rows * 8), 0, rows * 2);
        for (let i = 0; i < data.length; i++) data[i] = seed + i;
        return { data, expected: Array.from({ length: rows }, (_, r) => 2 * data[2 * r]! + data[2 * r + 1]! + 1) };
      };
      // Big, small, big again, several in flight on the one worker: each run sees its own rows only.
      const feeds = [feed(1000, 0), feed(3, 5000), feed(1000, -700), feed(10, 9), feed(999, 3)];
      const outs = await Promise.all(feeds.map(({ data }) => pool.run(model, { X: { type: "float32", dims: [data.length / 2, 2], data } })));
      outs.forEach((out, i) => expect(Array.from(out.variable.data as Float32Array)).toEqual(feeds[i]!.expected));
    } finally {
      await pool.close();
    }
  });

  it("lays out a matrix given as columns: in the worker when they are in shared memory, before sending otherwise", async () => {
    const pool = new OnnxWorkerPool({ size: 1, intraOpNumThreads: 1 });
    try {
      const model = linearRegressorOnnx([2, 1], 1);
      const sharedColumn = (values: number[]) => {
        const column = new Float64Array(new SharedArrayBuffer(8 * (values.length + 1)), 8, values.length); // at an offset, as a batch slice's values are
        column.set(values);
        return column;
      };
      const a = sharedColumn([1, 2, 3]);
      const b = new Int32Array(new SharedArrayBuffer(12));
      b.set([10, 20, 30]);
      const feed = { type: "float32" as const, dims: [3, 2] as [number, number], columns: [a, b] };
      const packed = packForTransfer({ X: feed });
      expect(packed.tensors.X).toBe(feed); // crosses as it is
      expect(Array.from((await pool.run(model, { X: feed })).variable.data as Float32Array)).toEqual([13, 25, 37]);
      const local = { ...feed, dims: [2, 2] as [number, number], columns: [Float64Array.of(1, 2, 9), Int32Array.of(10, 20, 9)] };
      expect(packForTransfer({ X: local }).tensors.X).toMatchObject({ type: "float32", dims: [2, 2], data: Float32Array.of(1, 10, 2, 20) });
      expect(Array.from((await pool.run(model, { X: local })).variable.data as Float32Array)).toEqual([13, 25]);

      // Asked to be finite, a NaN or ±Infinity fails the run with its column and row, from the worker or from here.
      const gap = sharedColumn([1, Infinity, NaN]);
      await expect(pool.run(model, { X: { ...feed, columns: [gap, b], finite: true } })).rejects.toMatchObject({ constructor: NonFiniteInputError, column: 0, row: 1, value: Infinity });
      expect(Array.from((await pool.run(model, { X: { ...feed, columns: [gap, b] } })).variable.data as Float32Array)).toEqual([13, Infinity, NaN]); // not asked: run as they are
      await expect(pool.run(model, { X: { ...local, columns: [Float64Array.of(1, 2), Float64Array.of(NaN, 3)], finite: true } })).rejects.toMatchObject({ constructor: NonFiniteInputError, column: 1, row: 0 });
    } finally {
      await pool.close();
    }
  });

  it("with rowsPerRun, runs many rows in pieces and joins the outputs as one run gives them, or runs them whole for models that need it", async () => {
    const pieces = new OnnxWorkerPool({ size: 1, intraOpNumThreads: 1, rowsPerRun: 4 });
    const whole = new OnnxWorkerPool({ size: 1, intraOpNumThreads: 1 });
    try {
      const { rows, data } = randomRows(7, 10, 2);
      const X = { type: "float32" as const, dims: [10, 2], data };
      const linear = await pieces.run(linearRegressorOnnx([3, -1], 0.5), { X });
      expect(linear.variable!.dims).toEqual([10, 1]);
      rows.forEach((row, r) => expectRelativelyClose(linear.variable!.data[r] as number, dot(row, [3, -1]) + 0.5));

      // Strings and probabilities, from columns in shared memory laid out in the worker.
      const classifier = binaryClassifierOnnx([1, -2], 0.1, ["no", "yes"]);
      const columns = [0, 1].map((j) => {
        const column = new Float64Array(new SharedArrayBuffer(8 * 10));
        column.set(rows.map((row) => row[j]!));
        return column;
      });
      const fromColumns = await pieces.run(classifier, { X: { type: "float32", dims: [10, 2], columns } });
      const expected = await whole.run(classifier, { X });
      expect(fromColumns.label).toEqual(expected.label);
      expect(fromColumns.probabilities!.dims).toEqual([10, 2]);
      expect(Array.from(fromColumns.probabilities!.data as Float32Array)).toEqual(Array.from(expected.probabilities!.data as Float32Array));
      expect(new Set(expected.label!.data as string[]).size).toBe(2); // both labels occur, so the order of the pieces shows

      // Pieces are what the model sees: a model that mixes rows (each row less the mean of the rows it is given) shows them.
      const centered = new OnnxGraphBuilder({ opset: 17 })
        .input("X", "float32", ["N", 2])
        .node("ReduceMean", ["X"], ["mean"], { axes: attr.ints([0]), keepdims: attr.int(1) })
        .node("Sub", ["X", "mean"], ["centered"])
        .output("centered", "float32", ["N", 2])
        .toBytes();
      const seen = (await pieces.run(centered, { X })).centered!.data as Float32Array;
      const pieceMean = (from: number, to: number) => rows.slice(from, to).reduce((sum, row) => sum + row[0]!, 0) / (to - from);
      expectRelativelyClose(seen[0]!, rows[0]![0]! - pieceMean(0, 4), 1e-4);
      expectRelativelyClose(seen[2 * 9]!, rows[9]![0]! - pieceMean(8, 10), 1e-4);

      // Outputs without a row per input row: the model runs on all rows at once.
      const columnSums = new OnnxGraphBuilder({ opset: 17 })
        .input("X", "float32", ["N", 2])
        .initializer("axes", BigInt64Array.of(0n), [1])
        .node("ReduceSum", ["X", "axes"], ["total"], { keepdims: attr.int(0) })
        .output("total", "float32", [2])
        .toBytes();
      const total = await pieces.run(columnSums, { X });
      expect(total.total!.dims).toEqual([2]);
      [0, 1].forEach((j) => expectRelativelyClose(total.total!.data[j] as number, rows.reduce((sum, row) => sum + row[j]!, 0)));

      // A model made for exactly ten rows refuses a piece of four: it runs on all ten.
      const fixed = new OnnxGraphBuilder({ opset: 17 })
        .input("X", "float32", [10, 2])
        .node("Neg", ["X"], ["negated"])
        .output("negated", "float32", [10, 2])
        .toBytes();
      const negated = await pieces.run(fixed, { X });
      expect(Array.from(negated.negated!.data as Float32Array)).toEqual(Array.from(data, (v) => -v));
      await expect(pieces.run(fixed, { X: { type: "float32", dims: [5, 2], data: data.subarray(0, 10) } })).rejects.toThrow(/dimension|shape/i);
    } finally {
      await Promise.all([pieces.close(), whole.close()]);
    }
  });

  it("keeps a pinned model runnable by its key while other models come and go, until it is unpinned", async () => {
    // One worker keeping one session (and the pool the bytes of one model): anything else crowds out what is not pinned.
    const pool = new OnnxWorkerPool({ size: 1, cacheSize: 1, intraOpNumThreads: 1 });
    try {
      const served = linearRegressorOnnx([3, 1], 0);
      const key = onnxModelKey(served);
      const feeds = { X: { type: "float32" as const, dims: [1, 2], data: Float32Array.of(1, 1) } };
      pool.pin(key, served);
      pool.pin(key, served); // two deployments of one model
      expect((await pool.run(key, feeds)).variable.data[0]).toBe(4);
      for (let i = 0; i < 6; i++) await pool.run(linearRegressorOnnx([i, 0], 0), feeds);
      expect((await Promise.all([pool.run(key, feeds), pool.run(key, feeds)])).map((o) => o.variable.data[0])).toEqual([4, 4]);
      pool.unpin(key);
      for (let i = 0; i < 3; i++) await pool.run(linearRegressorOnnx([0, i], 0), feeds);
      expect((await pool.run(key, feeds)).variable.data[0]).toBe(4); // one pin is left
      pool.unpin(key);
      for (let i = 0; i < 3; i++) await pool.run(linearRegressorOnnx([i, i], 0), feeds);
      // Unpinned and crowded out: by key alone it is not there any more.
      await expect(pool.run(key, feeds)).rejects.toBeInstanceOf(OnnxPoolError);
    } finally {
      await pool.close();
    }
  });

  it("rejects a rowsPerRun that is not a positive integer", () => {
    expect(() => new OnnxWorkerPool({ rowsPerRun: 0 })).toThrow(RangeError);
    expect(() => new OnnxWorkerPool({ rowsPerRun: 2.5 })).toThrow(RangeError);
  });

  it("rejects calls in flight and after close()", async () => {
    const pool = new OnnxWorkerPool();
    const model = linearRegressorOnnx([1], 0);
    const inFlight = expect(pool.run(model, { X: { type: "float32", dims: [1, 1], data: Float32Array.of(1) } })).rejects.toThrow(/closed/);
    await pool.close();
    await inFlight;
    await expect(pool.check(model)).rejects.toThrow(/closed/);
    await expect(pool.run(model, {})).rejects.toThrow(OnnxPoolError);
  });

  it("rejects the calls on a crashed worker and replaces it", async () => {
    const pool = new OnnxWorkerPool({ workerUrl: new URL("./fixtures/crashing-worker.mjs", import.meta.url) });
    try {
      const model = linearRegressorOnnx([1], 0);
      await pool.check(model);
      const crashing = [pool.run(model, {}), pool.run(model, {})];
      for (const call of crashing) await expect(call).rejects.toThrow(/onnx worker crashed: boom in worker/);
      await expect(pool.check(model)).resolves.toBeUndefined();
    } finally {
      await pool.close();
    }
  });

  it("lets the process exit with an idle pool left open, and keeps it alive for a pending run", async () => {
    const script = `
      import { OnnxWorkerPool, linearRegressorOnnx } from ${JSON.stringify(distIndex)};
      const pool = new OnnxWorkerPool();
      for (const intercept of [1, 2, 3]) {
        const out = await pool.run(linearRegressorOnnx([2], intercept), { X: { type: "float32", dims: [1, 1], data: Float32Array.of(3) } });
        console.log(out.variable.data[0]);
      }
    `;
    // Runs after the first are what test ref(): a starting worker keeps the process alive by itself.
    const { stdout } = await runScript(script);
    expect(stdout.trim().split("\n")).toEqual(["7", "8", "9"]);
  });

  it("closes while runs are under way without taking the process down", async () => {
    // A MatMul heavy enough that close() lands during onnxruntime's run most of the time.
    // Terminating the worker there aborted the process ("terminate called after throwing an
    // instance of 'Napi::Error'"), nearly always within the first two rounds.
    const script = `
      import { OnnxGraphBuilder, OnnxPoolError, OnnxWorkerPool } from ${JSON.stringify(distIndex)};
      const width = 64, rows = 2000;
      const model = new OnnxGraphBuilder({ opset: 17, producer: "kiln", graphName: "heavy" })
        .input("X", "float32", ["N", width])
        .initializer("W", new Float32Array(width * 2048).fill(0.5), [width, 2048])
        .node("MatMul", ["X", "W"], ["Y"])
        .output("Y", "float32", ["N", 2048])
        .toBytes();
      const X = { type: "float32", dims: [rows, width], data: new Float32Array(rows * width).fill(1) };
      let rejected = 0;
      for (let round = 0; round < 10; round++) {
        const pool = new OnnxWorkerPool({ size: 2, intraOpNumThreads: 1 });
        await pool.run(model, { X: { type: "float32", dims: [1, width], data: new Float32Array(width) } });
        const runs = [0, 1, 2].map(() => pool.run(model, { X }).catch((err) => { if (err instanceof OnnxPoolError) rejected++; else throw err; }));
        await new Promise((resolve) => setTimeout(resolve, round % 5));
        await pool.close();
        await Promise.all(runs);
      }
      console.log(rejected);
    `;
    const { stdout } = await runScript(script);
    expect(Number(stdout.trim())).toBeGreaterThan(0);
  });
});

// A file rather than --eval: workers inherit execArgv, and --input-type stops a worker from starting.
async function runScript(script: string): Promise<{ stdout: string }> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-onnx-"));
  try {
    await writeFile(join(dir, "main.mjs"), script);
    return await runNode(process.execPath, [join(dir, "main.mjs")], { timeout: 50_000 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
