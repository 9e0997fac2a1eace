import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { makeVector, Table, vectorFromArray } from "apache-arrow";
import { isKilnError } from "@kiln/core";
import { ModelInferRequest_InferInputTensorSchema } from "@kiln/proto/inference/grpc_predict_v2_pb";
import { tableToTensors, tensorsToTable } from "../src/oip-tensors.js";

const input = (init: Parameters<typeof create<typeof ModelInferRequest_InferInputTensorSchema>>[1]) => create(ModelInferRequest_InferInputTensorSchema, init);
const rawStrings = (...values: string[]) => {
  const parts = values.map((v) => new TextEncoder().encode(v));
  const out = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    new DataView(out.buffer).setUint32(at, p.length, true);
    out.set(p, at + 4);
    at += 4 + p.length;
  }
  return out;
};
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (isKilnError(e)) return { code: e.code, reason: e.reason };
    throw e;
  }
  throw new Error("expected a refusal");
};

describe("Open Inference Protocol tensors as tables and back", () => {
  it("reads one [N, k] tensor as k positional columns, from typed or raw contents", () => {
    const typed = tensorsToTable([input({ name: "X", datatype: "FP64", shape: [2n, 3n], contents: { fp64Contents: [1, 2, 3, 4, 5, 6] } })], []);
    expect(typed.positional).toBe(true);
    expect(typed.table.schema.fields.map((f) => f.name)).toEqual(["x0", "x1", "x2"]);
    expect(typed.table.toArray().map((r) => r.toJSON())).toEqual([{ x0: 1, x1: 2, x2: 3 }, { x0: 4, x1: 5, x2: 6 }]);

    const raw = tensorsToTable([input({ name: "X", datatype: "INT64", shape: [2n, 1n] })], [new Uint8Array(BigInt64Array.of(7n, -8n).buffer)]);
    expect(raw.table.getChild("x0")!.toArray()).toEqual(BigInt64Array.of(7n, -8n));
  });

  it("reads tensors [N] or [N, 1] as columns named like them, strings and booleans too", () => {
    const { table, positional } = tensorsToTable(
      [
        input({ name: "city", datatype: "BYTES", shape: [2n] }),
        input({ name: "rooms", datatype: "INT32", shape: [2n, 1n] }),
        input({ name: "garden", datatype: "BOOL", shape: [2n] }),
      ],
      [rawStrings("Oslo", "Zürich"), new Uint8Array(Int32Array.of(3, 5).buffer), Uint8Array.of(1, 0)],
    );
    expect(positional).toBe(false);
    expect(table.toArray().map((r) => r.toJSON())).toEqual([
      { city: "Oslo", rooms: 3, garden: true },
      { city: "Zürich", rooms: 5, garden: false },
    ]);
  });

  it("refuses shapes, element counts and datatypes it cannot take, as InvalidArgument", () => {
    const bad = (inputs: ReturnType<typeof input>[], raw: Uint8Array[] = []) => refusal(() => tensorsToTable(inputs, raw));
    expect(bad([])).toEqual({ code: Code.InvalidArgument, reason: "INPUT_REQUIRED" });
    expect(bad([input({ name: "X", datatype: "FP32", shape: [1n, 2n, 2n] })])).toMatchObject({ reason: "UNSUPPORTED_SHAPE" });
    expect(bad([input({ name: "X", datatype: "FP32", shape: [2n, 2n], contents: { fp32Contents: [1, 2, 3] } })])).toMatchObject({ reason: "SHAPE_MISMATCH" });
    expect(bad([input({ name: "a", datatype: "FP32", shape: [2n], contents: { fp32Contents: [1, 2] } }), input({ name: "b", datatype: "FP32", shape: [3n], contents: { fp32Contents: [1, 2, 3] } })])).toMatchObject({ reason: "SHAPE_MISMATCH" });
    expect(bad([input({ name: "X", datatype: "FP16", shape: [1n] })], [new Uint8Array(2)])).toMatchObject({ reason: "UNSUPPORTED_DATATYPE" });
    expect(bad([input({ name: "X", datatype: "FP32", shape: [1n] })], [new Uint8Array(3)])).toMatchObject({ reason: "SHAPE_MISMATCH" });
    expect(bad([input({ name: "s", datatype: "BYTES", shape: [1n] })], [Uint8Array.of(9, 0, 0, 0, 65)])).toMatchObject({ reason: "SHAPE_MISMATCH" });
    expect(bad([input({ name: "X", datatype: "FP32", shape: [0n, 2n] })])).toMatchObject({ reason: "NO_ROWS" });
  });

  it("gives one output column as a tensor [N], and an output's columns as one tensor [N, k] naming them", () => {
    const single = tableToTensors(new Table({ prediction: makeVector(BigInt64Array.of(1n, 0n)) }), false);
    expect(single.outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, values: o.contents?.int64Contents }))).toEqual([{ name: "prediction", datatype: "INT64", shape: [2n], values: [1n, 0n] }]);

    const proba = new Table({ probability_no: makeVector(Float32Array.of(0.25, 0.5)), probability_yes: makeVector(Float32Array.of(0.75, 0.5)) });
    const typed = tableToTensors(proba, false);
    expect(typed.outputs[0]).toMatchObject({ name: "probability", datatype: "FP32", shape: [2n, 2n], contents: { fp32Contents: [0.25, 0.75, 0.5, 0.5] } });
    expect(typed.outputs[0]!.parameters.columns!.parameterChoice.value).toBe("probability_no,probability_yes");
    const raw = tableToTensors(proba, true);
    expect(raw.outputs[0]!.contents).toBeUndefined();
    expect(new Float32Array(raw.rawOutputContents[0]!.slice().buffer)).toEqual(Float32Array.of(0.25, 0.75, 0.5, 0.5));

    const labels = tableToTensors(new Table({ prediction: vectorFromArray(["yes", "no"]) }), true);
    expect(labels.outputs[0]).toMatchObject({ datatype: "BYTES", shape: [2n] });
    expect(labels.rawOutputContents[0]).toEqual(rawStrings("yes", "no"));
  });
});
