import { Decimal, Float16, makeData, makeVector, Table, tableFromArrays, Utf8, vectorFromArray } from "apache-arrow";
import { describe, expect, it } from "vitest";
import type { OnnxFeed, OnnxTensorData } from "@kiln/onnx";
import { create } from "@bufbuild/protobuf";
import { JobInputSchema, JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { TensorSignature } from "@kiln/sdk";
import { columnsToRead, sliceChunks, type Slice } from "../src/data.js";
import { FeedBuffers } from "../src/feed-buffers.js";
import { planFeatures } from "../src/features.js";
import { JobFailure } from "../src/job-failure.js";
import { copyColumns, inertiaOf, outputTable, pickOutput, withKept } from "../src/outputs.js";

const matrixInput: TensorSignature = { name: "X", kind: "tensor", elementType: "float32", shape: ["N", 2], type: "tensor(float32)[N,2]" };
const columns = [
  { name: "a", type: "Float64" },
  { name: "b", type: "Int64" },
  { name: "city", type: "Utf8" },
];

function failure(fn: () => unknown): JobFailure {
  try {
    fn();
  } catch (e) {
    if (e instanceof JobFailure) return e;
    throw e;
  }
  throw new Error("expected a JobFailure");
}

/** The numbers of a feed the plan built as a tensor, not left to the ONNX worker as columns. */
function numbersOf(feed: OnnxFeed | undefined): Exclude<OnnxTensorData["data"], string[]> {
  if (!feed) throw new Error("no such feed");
  if (!("data" in feed)) throw new Error("a matrix left as columns, not built");
  if (Array.isArray(feed.data)) throw new Error(`a ${feed.type} tensor, not numbers`);
  return feed.data;
}

describe("matching a table to a model's signature", () => {
  it("feeds named numeric columns as one float matrix, nulls as NaN", () => {
    const plan = planFeatures([matrixInput], columns, ["a", "b"]);
    expect(plan.columns).toEqual(["a", "b"]);
    const batch = tableFromArrays({ a: Float64Array.from([1.5, 2.5]), b: BigInt64Array.from([3n, 4n]) }).batches[0]!;
    const feed = plan.feeds(batch).X!;
    expect(feed).toMatchObject({ type: "float32", dims: [2, 2] });
    expect(Array.from(numbersOf(feed) as Float32Array)).toEqual([1.5, 3, 2.5, 4]);
    const withNull = new Table({ a: vectorFromArray([1, null]), b: vectorFromArray([2, 3]) }).batches[0]!;
    expect(Array.from(numbersOf(planFeatures([matrixInput], columns, ["a", "b"]).feeds(withNull).X) as Float32Array)).toEqual([1, 2, NaN, 3]);
  });

  it("builds a matrix in a reused shared buffer, doubles into floats the same as any other column", () => {
    const plan = planFeatures([matrixInput], columns, ["a", "b"]);
    const buffers = new FeedBuffers(1);
    const rows = 1000;
    const batch = tableFromArrays({ a: Float64Array.from({ length: 2 * rows }, (_, i) => i / 3), b: BigInt64Array.from({ length: 2 * rows }, (_, i) => BigInt(-i)) })
      .batches[0]!.slice(rows, 2 * rows); // a slice: its values start partway into the column's memory
    const first = plan.feeds(batch, buffers);
    const data = numbersOf(first.X) as Float32Array;
    expect(data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(data)).toEqual(Array.from(numbersOf(plan.feeds(batch).X) as Float32Array));
    expect(data[0]).toBe(Math.fround(rows / 3));
    expect(data[2 * rows - 1]).toBe(-(2 * rows - 1));
    expect(numbersOf(plan.feeds(batch, buffers).X).buffer).not.toBe(data.buffer); // still in use: not handed out again
    buffers.give(first);
    expect(numbersOf(plan.feeds(batch, buffers).X).buffer).toBe(data.buffer);
    // A model that takes doubles gets them as they are, in a buffer of the same pool.
    const doubles = planFeatures([{ ...matrixInput, elementType: "float64", type: "tensor(float64)[N,2]" }], columns, ["a", "b"]).feeds(batch, buffers).X!;
    expect(doubles.type).toBe("float64");
    expect(numbersOf(doubles).buffer).toBeInstanceOf(SharedArrayBuffer);
    expect((numbersOf(doubles) as Float64Array)[0]).toBe(rows / 3);
  });

  it("leaves a matrix to the ONNX worker as columns when they all sit in shared memory, and builds it otherwise", () => {
    const plan = planFeatures([matrixInput], columns, ["a", "b"]);
    const rows = 4;
    const shared = <T extends Float64Array | Int32Array | BigInt64Array>(Array: new (b: SharedArrayBuffer) => T, values: number[]): T => {
      const array = new Array(new SharedArrayBuffer(values.length * 8));
      values.forEach((v, i) => (array[i] = (typeof array[0] === "bigint" ? BigInt(v) : v) as never));
      return array;
    };
    const inShared = (b: Float64Array | Int32Array | BigInt64Array) =>
      tableFromArrays({ a: shared(Float64Array, [0.5, 1.5, 2.5, 3.5]), b }).batches[0]!.slice(1, rows); // a slice: views at an offset
    const asColumns = plan.feeds(inShared(shared(Int32Array, [10, 20, 30, 40]))).X!;
    expect(asColumns).toMatchObject({ type: "float32", dims: [3, 2] });
    expect("columns" in asColumns && asColumns.columns.map((c) => [c.buffer instanceof SharedArrayBuffer, Array.from(c)])).toEqual([
      [true, [1.5, 2.5, 3.5]],
      [true, [20, 30, 40]],
    ]);
    // 64-bit integers need converting one by one: built here, in a feed buffer.
    const built = plan.feeds(inShared(shared(BigInt64Array, [10, 20, 30, 40])), new FeedBuffers(1)).X!;
    expect("data" in built && Array.from(built.data as Float32Array)).toEqual([1.5, 20, 2.5, 30, 3.5, 40]);
  });

  it("reads half floats and decimals as their values, not their stored words", () => {
    const half = vectorFromArray([1.5, -2.25], new Float16());
    const decimal = makeVector(makeData({ type: new Decimal(2, 10, 128), length: 2, data: Uint32Array.of(150, 0, 0, 0, 7, 0, 0, 0) }));
    const plan = planFeatures([matrixInput], [{ name: "h", type: "Float16" }, { name: "d", type: "Decimal" }], ["h", "d"]);
    const feed = plan.feeds(new Table({ h: half, d: decimal }).batches[0]!).X!;
    expect("data" in feed && Array.from(feed.data as Float32Array)).toEqual([1.5, 1.5, -2.25, Math.fround(0.07)]);
  });

  it("names the missing column, the mistyped column, and a wrong feature count", () => {
    expect(failure(() => planFeatures([matrixInput], columns, ["a", "zip"]))).toMatchObject({ code: "FAILED_PRECONDITION", reason: "COLUMN_MISSING", message: expect.stringContaining('"zip"') });
    expect(failure(() => planFeatures([matrixInput], columns, ["a", "city"]))).toMatchObject({ reason: "COLUMN_TYPE", message: expect.stringContaining('"city"') });
    expect(failure(() => planFeatures([matrixInput], columns.slice(0, 1), undefined))).toMatchObject({ reason: "FEATURE_COUNT", message: expect.stringContaining("takes 2 features") });
    // The whole table (its text target among them): counted before typed, so the message says how to pick the features.
    expect(failure(() => planFeatures([matrixInput], columns, undefined))).toMatchObject({
      reason: "FEATURE_COUNT",
      message: 'the model takes 2 features in input "X" and the job gives 3 (a, b, city); name the 2 to use as X\'s columns',
    });
  });

  it("maps a model with one input per column by name and type (as sklearn-onnx exports mixed tables)", () => {
    const inputs: TensorSignature[] = [
      { name: "a", kind: "tensor", elementType: "float32", shape: ["N", 1], type: "tensor(float32)[N,1]" },
      { name: "city", kind: "tensor", elementType: "string", shape: ["N", 1], type: "tensor(string)[N,1]" },
    ];
    const plan = planFeatures(inputs, columns, undefined);
    const batch = tableFromArrays({ a: Float64Array.from([1, 2]), city: ["x", "y"] }).batches[0]!;
    const feeds = plan.feeds(batch);
    expect(feeds.a).toMatchObject({ type: "float32", dims: [2, 1] });
    expect(feeds.city).toMatchObject({ type: "string", dims: [2, 1], data: ["x", "y"] });
    expect(failure(() => planFeatures([{ ...inputs[1]!, name: "country" }], columns, undefined))).toMatchObject({ reason: "COLUMN_MISSING" });
    expect(failure(() => planFeatures([{ ...inputs[1]!, name: "a" }], columns, undefined))).toMatchObject({ reason: "COLUMN_TYPE" });
  });
});

describe("FeedBuffers and sliceChunks", () => {
  it("hands a buffer out again only after it is given back, larger ones serving smaller requests, keeps at most `keep`, and takes back only its own", () => {
    const buffers = new FeedBuffers(1);
    const big = buffers.float32(100);
    const other = buffers.float64(10);
    expect(other.buffer).not.toBe(big.buffer);
    buffers.give({ X: { type: "float32", dims: [100], data: big }, Y: { type: "float64", dims: [10], data: other } });
    const small = buffers.float64(5);
    expect(small.buffer).toBe(big.buffer); // the one kept
    expect(buffers.float32(1).buffer).not.toBe(other.buffer); // the second was let go
    buffers.give({ X: { type: "float32", dims: [2], data: Float32Array.of(1, 2) } }); // not shared memory: ignored
    const column = new Float64Array(new SharedArrayBuffer(800));
    buffers.give({ X: { type: "float32", dims: [100, 1], columns: [column] } }); // the caller's columns, not a feed buffer: ignored
    expect(buffers.float64(100).buffer).not.toBe(column.buffer);
    const chunkMemory = new Float32Array(new SharedArrayBuffer(4000));
    buffers.give({ X: { type: "float32", dims: [1000], data: chunkMemory } }); // shared memory it did not lend: ignored
    expect(buffers.float32(1000).buffer).not.toBe(chunkMemory.buffer);
    expect(buffers.float32(2).buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it("slices chunks into batches of at most n rows, releasing a chunk once all its slices are, in any order (an empty one at once)", async () => {
    const released: string[] = [];
    const table = (n: number) => tableFromArrays({ a: Float64Array.from({ length: n }, (_, i) => i) });
    async function* chunks() {
      yield { batches: [...table(5).batches, ...table(2).batches], release: () => released.push("first") };
      yield { batches: table(0).batches, release: () => released.push("empty") };
      yield { batches: table(3).batches, release: () => released.push("last") };
    }
    const slices: Slice[] = [];
    for await (const slice of sliceChunks(chunks(), 3)) slices.push(slice);
    expect(slices.map((s) => s.batch.numRows)).toEqual([3, 2, 2, 3]);
    expect(released).toEqual(["empty"]);
    slices[2]!.release();
    slices[2]!.release(); // counts once
    slices[1]!.release();
    expect(released).toEqual(["empty"]); // the first slice still reads the first chunk
    slices[0]!.release();
    expect(released).toEqual(["empty", "first"]);
    slices[3]!.release();
    expect(released).toEqual(["empty", "first", "last"]);
  });

  it("starts with a small slice and doubles it up to n rows, across batches and chunks", async () => {
    const table = (n: number) => tableFromArrays({ a: Float64Array.from({ length: n }, (_, i) => i) });
    async function* chunks() {
      yield { batches: table(10).batches, release: () => {} };
      yield { batches: [...table(3).batches, ...table(20).batches], release: () => {} };
    }
    const slices: Slice[] = [];
    for await (const slice of sliceChunks(chunks(), 8, 1)) slices.push(slice);
    expect(slices.map((s) => s.batch.numRows)).toEqual([1, 2, 4, 3, 3, 8, 8, 4]);
    const values = slices.flatMap((s) => [...(s.batch.getChild("a")!.toArray() as Float64Array)]);
    expect(values).toEqual([...Array.from({ length: 10 }, (_, i) => i), 0, 1, 2, ...Array.from({ length: 20 }, (_, i) => i)]);
  });

  it("takes a batch's short rest along with its last slice instead of leaving a sliver", async () => {
    const table = (n: number) => tableFromArrays({ a: Float64Array.from({ length: n }, (_, i) => i) });
    const sizes = async (n: number, rows: number, first: number) => {
      const out: number[] = [];
      for await (const slice of sliceChunks((async function* () { yield { batches: table(n).batches, release: () => {} }; })(), rows, first)) out.push(slice.batch.numRows);
      return out;
    };
    expect(await sizes(5, 8, 4)).toEqual([5]); // 4 and a sliver of 1
    expect(await sizes(125_000, 131_072, 16_384)).toEqual([16_384, 32_768, 75_848]); // a stored chunk: not 65,536 and 10,312
    expect(await sizes(20, 8, 8)).toEqual([8, 8, 4]); // never more than n rows
  });
});

describe("model outputs as result tables", () => {
  const outputs: TensorSignature[] = [
    { name: "label", kind: "tensor", elementType: "int64", shape: ["N"], type: "tensor(int64)[N]" },
    { name: "probabilities", kind: "tensor", elementType: "float32", shape: ["N", 2], type: "tensor(float32)[N,2]" },
  ];

  it("picks the output each job kind returns", () => {
    expect(pickOutput(JobKind.PREDICT, outputs)).toBe("label");
    expect(pickOutput(JobKind.PREDICT_PROBA, outputs)).toBe("probabilities");
    expect(pickOutput(JobKind.TRANSFORM, [{ name: "variable", kind: "tensor", elementType: "float32", shape: ["N", 3], type: "tensor(float32)[N,3]" }])).toBe("variable");
    expect(failure(() => pickOutput(JobKind.PREDICT_PROBA, [outputs[0]!]))).toMatchObject({ reason: "NO_PROBABILITIES" });
    expect(failure(() => pickOutput(JobKind.TRANSFORM, outputs))).toMatchObject({ code: "FAILED_PRECONDITION", reason: "NOT_A_TRANSFORMER" });
    expect(pickOutput(JobKind.TRANSFORM, [{ name: "embedding", kind: "tensor", elementType: "float32", shape: ["N", 8], type: "tensor(float32)[N,8]" }])).toBe("embedding");
    expect(pickOutput(JobKind.TRANSFORM, [outputs[0]!, { name: "scores", kind: "tensor", elementType: "float32", shape: ["N", 3], type: "tensor(float32)[N,3]" }])).toBe("scores"); // a clusterer's distances
  });

  it("sums the squared distance to each row's nearest center (a clusterer's inertia)", () => {
    expect(inertiaOf({ type: "float32", dims: [2, 3], data: Float32Array.from([3, 1, 2, 0.5, 4, 2]) })).toBeCloseTo(1 + 0.25, 6);
  });

  it("makes one column per output column, named by class when the classes are known", () => {
    const proba = outputTable(JobKind.PREDICT_PROBA, { type: "float32", dims: [2, 2], data: Float32Array.from([0.25, 0.75, 0.5, 0.5]) }, ["no", "yes"]);
    expect(proba.schema.fields.map((f) => f.name)).toEqual(["probability_no", "probability_yes"]);
    expect(Array.from(proba.getChild("probability_yes")!.toArray() as Float32Array)).toEqual([0.75, 0.5]);
    const labels = outputTable(JobKind.PREDICT, { type: "int64", dims: [2], data: BigInt64Array.from([1n, 0n]) });
    expect(labels.schema.fields.map((f) => f.name)).toEqual(["prediction"]);
    const transformed = outputTable(JobKind.TRANSFORM, { type: "float32", dims: [1, 3], data: Float32Array.from([1, 2, 3]) });
    expect(transformed.schema.fields.map((f) => f.name)).toEqual(["component_0", "component_1", "component_2"]);
  });

  it("copies kept columns out of a lent batch's memory and puts them before the outputs; refuses a kept column named like an output", () => {
    const ids = BigInt64Array.of(10n, 11n, 12n);
    const batch = new Table({ x: makeVector(Float32Array.of(1, 2, 3)), id: makeVector(ids), tag: vectorFromArray(["a", "b", "c"], new Utf8()) }).batches[0]!;
    const kept = copyColumns(batch.slice(1, 3), ["tag", "id"]);
    ids.fill(0n); // the reader reuses a released chunk's memory for a later chunk
    const outputs = outputTable(JobKind.PREDICT, { type: "float32", dims: [2], data: Float32Array.of(0.5, 0.25) });
    const rows = withKept(kept, outputs);
    expect(rows.schema.fields.map((f) => `${f.name}: ${f.type}`)).toEqual(["tag: Utf8", "id: Int64", "prediction: Float32"]);
    expect(rows.toArray().map((r) => r.toJSON())).toEqual([
      { tag: "b", id: 11n, prediction: 0.5 },
      { tag: "c", id: 12n, prediction: 0.25 },
    ]);
    expect(withKept(undefined, outputs)).toBe(outputs);
    expect(failure(() => withKept(copyColumns(new Table({ prediction: makeVector(Float32Array.of(1, 2)) }).batches[0]!, ["prediction"]), outputs))).toMatchObject({
      code: "FAILED_PRECONDITION",
      reason: "KEEP_COLUMN_CONFLICT",
    });
  });
});

describe("the columns a job reads", () => {
  const table = [
    { name: "a", type: "Float64" },
    { name: "b", type: "Float32" },
    { name: "label", type: "Utf8" },
    { name: "id", type: "Int64" },
  ];
  const input = (filter = "") => create(JobInputSchema, { dataset: "projects/p/datasets/d", filter });

  it("reads whole chunks (every column, in stored order) when the executor reads the blob store, or when nothing is left out", () => {
    expect(columnsToRead(table, ["b", "a"], input(), true)).toEqual(["a", "b", "label", "id"]);
    expect(columnsToRead(table, ["id", "label", "b", "a"], input(), false)).toEqual(["a", "b", "label", "id"]);
  });

  it("over HTTP, reads whole chunks only when the columns left out are at most as wide as those used", () => {
    expect(columnsToRead(table, ["a", "b", "id"], input(), false)).toEqual(["a", "b", "id"]); // text (32) > 20 bytes used
    expect(columnsToRead(table, ["a", "label"], input(), false)).toEqual(["a", "b", "label", "id"]); // 12 left out < 40 used
  });

  it("lets the store filter and project when the job has a filter", () => {
    expect(columnsToRead(table, ["b", "a"], input("a > 1"), true)).toEqual(["b", "a"]);
  });
});
