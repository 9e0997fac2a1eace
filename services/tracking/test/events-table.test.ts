import { describe, expect, it } from "vitest";
import { tableFromIPC } from "apache-arrow";
import { tableToIpc } from "@kiln/data";
import type { EventPage } from "@kiln/storage";
import { eventsTable } from "../src/events-table.js";

const EXPERIMENT = "projects/default/experiments/e";

/** Three events: a number, a text param and a NaN metric, as a backend returns them. */
function page(): EventPage {
  return {
    length: 3,
    run: Int32Array.of(1, 1, 2),
    event: { values: ["metric", "param"], indices: Int32Array.of(0, 1, 0) },
    dt: Float64Array.of(1_000.4, 2_000, 3_000),
    node: { values: ["n"], indices: Int32Array.of(0, 0, 0) },
    step: Int32Array.of(0, 0, 7),
    key: { values: ["loss", "lr"], indices: Int32Array.of(0, 1, 0) },
    valueType: Uint8Array.of(1, 2, 1),
    number: Float64Array.of(0.5, 0, NaN),
    text: [null, "0.01", null],
  };
}

describe("a page of events as Arrow", () => {
  it("has the documented columns, dictionary-encoded strings and a value only for number events", () => {
    const table = tableFromIPC(tableToIpc(eventsTable(EXPERIMENT, page())));
    expect(table.schema.fields.map((f) => `${f.name}:${f.type}`)).toEqual([
      "experiment:Dictionary<Int32, Utf8>",
      "run:Int32",
      "event:Dictionary<Int32, Utf8>",
      "dt:Timestamp<MILLISECOND>",
      "node:Dictionary<Int32, Utf8>",
      "step:Int32",
      "key:Dictionary<Int32, Utf8>",
      "value:Float64",
      "value_text:Utf8",
      "value_type:Dictionary<Int32, Utf8>",
    ]);
    const rows = table.toArray().map((r) => r.toJSON());
    expect(rows[0]).toEqual({ experiment: EXPERIMENT, run: 1, event: "metric", dt: 1_000, node: "n", step: 0, key: "loss", value: 0.5, value_text: null, value_type: "number" });
    expect(rows[1]).toMatchObject({ event: "param", key: "lr", value: null, value_text: "0.01", value_type: "text" });
    expect(rows[2]!.value).toBeNaN();
    expect(table.getChild("value_type")!.data[0]!.dictionary!.toArray()).toEqual(["number", "text"]);
  });

  it("gives a page without text values an all-null text column", () => {
    const numbers: EventPage = {
      length: 1,
      run: Int32Array.of(1),
      event: { values: ["metric"], indices: Int32Array.of(0) },
      dt: Float64Array.of(1_000),
      node: { values: ["n"], indices: Int32Array.of(0) },
      step: Int32Array.of(0),
      key: { values: ["loss"], indices: Int32Array.of(0) },
      valueType: Uint8Array.of(1),
      number: Float64Array.of(0.5),
      text: [null],
    };
    const table = tableFromIPC(tableToIpc(eventsTable(EXPERIMENT, numbers)));
    expect(table.getChild("value_text")!.toArray()).toEqual([null]);
    expect(table.getChild("value")!.toArray()).toEqual(Float64Array.of(0.5));
  });
});
