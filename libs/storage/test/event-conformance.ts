import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { parseFilter } from "@kiln/data";
import { EVENT_VALUE_TYPES, stringAt, type EventPage, type EventQuery, type EventStore, type TrackedEvent } from "../src/index.js";

export type MakeEventStore = () => Promise<{ store: EventStore; cleanup: () => Promise<void> }>;

/** An event as a query reads it back: everything it was logged with but its id. */
type ReadEvent = Omit<TrackedEvent, "id">;

function eventsOf(page: EventPage, experiment: string): ReadEvent[] {
  return Array.from({ length: page.length }, (_, i) => {
    const valueType = EVENT_VALUE_TYPES[page.valueType[i]!]!;
    const e: ReadEvent = { experiment, run: page.run[i]!, event: stringAt(page.event, i), dt: page.dt[i]!, node: stringAt(page.node, i), step: page.step[i]!, key: stringAt(page.key, i), valueType };
    if (valueType === "number") e.number = page.number[i]!;
    else if (page.text[i] !== null) e.text = page.text[i]!;
    return e;
  });
}

const withoutId = ({ id: _, ...rest }: TrackedEvent): ReadEvent => rest;

/** The behaviour every tracking event backend must have. */
export function describeEventStore(name: string, make: MakeEventStore, options: { skip?: boolean } = {}): void {
  describe.skipIf(options.skip)(`event store conformance: ${name}`, () => {
    let store: EventStore;
    let cleanup: () => Promise<void>;
    let experiment: string;
    beforeEach(async () => {
      ({ store, cleanup } = await make());
      experiment = `projects/default/experiments/e-${randomUUID().slice(0, 8)}`;
    });
    afterEach(async () => cleanup());

    const event = (run: number, key: string, value: number | string | undefined, more: Partial<TrackedEvent> = {}): TrackedEvent => ({
      id: randomUUID(),
      experiment,
      run,
      event: "metric",
      dt: Date.parse("2026-11-25T10:00:00Z") + run * 1000,
      node: "node-a",
      step: 0,
      key,
      valueType: value === undefined ? "none" : typeof value === "number" ? "number" : "text",
      ...(typeof value === "number" ? { number: value } : typeof value === "string" ? { text: value } : {}),
      ...more,
    });
    const all = async (q: Partial<Omit<EventQuery, "filter">> & { filter?: string } = {}) => {
      const rows: ReadEvent[] = [];
      const { filter, ...rest } = q;
      for await (const page of store.query({ experiment, runs: { all: true }, ...rest, filter: filter ? parseFilter(filter) : undefined })) rows.push(...eventsOf(page, experiment));
      return rows;
    };

    it("stores every field and reads events back in run, then logging, order", async () => {
      const json = event(1, "config", undefined, { event: "param", valueType: "json", text: '{"depth":3}' });
      const batch = [event(2, "loss", 0.5), event(1, "loss", 0.9, { step: 1, node: "node-b" }), json, event(1, "note", "hello", { event: "custom" })];
      expect(await store.append(batch)).toEqual({ accepted: 4, duplicates: 0 });
      const rows = await all();
      expect(rows.map((r) => [r.run, r.key])).toEqual([[1, "loss"], [1, "config"], [1, "note"], [2, "loss"]]);
      expect(rows[0]).toEqual(withoutId(batch[1]!));
      expect(rows[1]).toEqual(withoutId(json));
      expect(rows[2]).toMatchObject({ valueType: "text", text: "hello", event: "custom" });
    });

    it("stores a columnar batch once, whatever its retries", async () => {
      const batch = {
        batchId: `b-${randomUUID()}`,
        experiment,
        run: 2,
        strings: ["metric", "loss", "node-a", "param", "lr", "note"],
        event: [0, 0, 3, 0, 0],
        key: [1, 1, 4, 5, 1],
        node: [2, 2, 2, 2, 2],
        step: [0, 1, 0, 2, 3],
        dt: [1000, 2000, 3000, 4000, 5000],
        valueType: [1, 1, 2, 3, 1],
        number: [0.5, NaN, 0, 0, -Infinity],
        text: ["0.01", '{"a":1}'],
      };
      expect(await store.appendBatch(batch)).toEqual({ accepted: 5, duplicates: 0 });
      expect(await store.appendBatch(batch)).toEqual({ accepted: 0, duplicates: 5 });
      const rows = await all();
      expect(rows.map((r) => [r.event, r.key, r.step, r.valueType])).toEqual([
        ["metric", "loss", 0, "number"],
        ["metric", "loss", 1, "number"],
        ["param", "lr", 0, "text"],
        ["metric", "note", 2, "json"],
        ["metric", "loss", 3, "number"],
      ]);
      expect(rows[0]).toMatchObject({ number: 0.5, dt: 1000, node: "node-a", run: 2 });
      expect(rows[1]!.number).toBeNaN();
      expect(rows[2]!.text).toBe("0.01");
      expect(rows[3]!.text).toBe('{"a":1}');
      expect(rows[4]!.number).toBe(-Infinity);
    });

    /** The events as one columnar batch of a run (each event's run is ignored). */
    const asBatch = (events: TrackedEvent[], run: number) => {
      const strings: string[] = [];
      const at = (v: string) => (strings.includes(v) ? strings.indexOf(v) : strings.push(v) - 1);
      const vtype = (e: TrackedEvent) => ["none", "number", "text", "json"].indexOf(e.valueType);
      return {
        batchId: `b-${randomUUID()}`,
        experiment,
        run,
        event: events.map((e) => at(e.event)),
        key: events.map((e) => at(e.key)),
        node: events.map((e) => at(e.node)),
        step: events.map((e) => e.step),
        dt: events.map((e) => e.dt),
        valueType: events.map(vtype),
        number: events.map((e) => (e.valueType === "number" ? e.number! : 0)),
        text: events.filter((e) => e.valueType === "text" || e.valueType === "json").map((e) => e.text!),
        strings,
      };
    };

    it("reads events logged one by one and in batches in one (run, logging) order", async () => {
      await store.append([event(2, "a", 1), event(1, "b", 2)]);
      await store.appendBatch(asBatch([event(0, "c", 3), event(0, "d", 4)], 1));
      await store.append([event(1, "e", 5)]);
      await store.appendBatch(asBatch([event(0, "f", 6)], 2));
      await store.appendBatch(asBatch([], 1));
      expect((await all()).map((r) => [r.run, r.key])).toEqual([[1, "b"], [1, "c"], [1, "d"], [1, "e"], [2, "a"], [2, "f"]]);
      expect((await all({ runs: { runs: [2] } })).map((r) => r.key)).toEqual(["a", "f"]);
      expect((await all({ runs: { from: 1, to: 1 }, filter: 'key IN ("b", "d", "f")' })).map((r) => r.key)).toEqual(["b", "d"]);
      const pages: number[] = [];
      for await (const page of store.query({ experiment, runs: { all: true }, pageSize: 4 })) pages.push(page.length);
      expect(pages).toEqual([4, 2]);
      expect(await store.deleteExperiment(experiment)).toBe(6);
      expect(await all()).toEqual([]);
    });

    it("filters events in batches as it filters events logged one by one", async () => {
      // The same events for run 1 (one by one) and run 2 (a batch); dt fixed, not by run.
      const sample = (run: number) => [
        event(run, "loss", 0.5, { step: 1 }),
        event(run, "loss", NaN, { step: 2 }),
        event(run, "loss", Infinity, { step: 3 }),
        event(run, "acc", -2, { step: 4, node: "node-b" }),
        event(run, "lr", "0.1", { event: "param" }),
        event(run, "cfg", undefined, { event: "param", valueType: "json", text: '{"a":1}' }),
        event(run, "note", "😀 Ünïcode", { event: "custom", dt: Date.parse("2026-11-25T12:00:00Z") }),
        event(run, "zzz", undefined, { event: "tag" }),
      ].map((e) => ({ ...e, dt: e.key === "note" ? e.dt : Date.parse("2026-11-25T10:00:00Z") }));
      await store.append(sample(1));
      await store.appendBatch(asBatch(sample(2), 2));
      const filters = [
        "value > 0.2",
        "NOT (value > 0.2)",
        "value < 1 OR key = \"lr\"",
        'value = "0.1"',
        'NOT (value = "0.1")',
        'value IN (0.5, "0.1", -2)',
        'value NOT IN (0.5, "0.1")',
        "value IS NULL",
        "NOT (value IS NOT NULL) OR step >= 3",
        'key > "cfg" AND key <= "note"',
        'node != "node-a"',
        'event IN ("param", "custom") AND NOT (key = "cfg")',
        'dt >= "2026-11-25T11:00:00Z"',
        'value > "Ü" OR value < "0"',
        // Past the BMP: 😀 sorts after Ａ (U+FF21) in code points and UTF-8, before it in UTF-16.
        'value > "Ａ"',
        "step IN (1, 2) OR NOT (value >= -2)",
      ];
      for (const filter of filters) {
        const rows = await all({ filter });
        const fromRows = rows.filter((r) => r.run === 1).map(({ run: _, ...r }) => r);
        const fromBatch = rows.filter((r) => r.run === 2).map(({ run: _, ...r }) => r);
        expect(fromBatch, filter).toEqual(fromRows);
      }
    });

    it("keeps NaN and ±Infinity", async () => {
      await store.append([event(1, "a", NaN), event(1, "b", Infinity), event(1, "c", -Infinity)]);
      const values = (await all()).map((r) => r.number);
      expect(values[0]).toBeNaN();
      expect(values.slice(1)).toEqual([Infinity, -Infinity]);
    });

    it("skips events whose id it has seen, so a retried batch adds nothing", async () => {
      const batch = [event(1, "loss", 1), event(1, "loss", 2)];
      await store.append(batch);
      expect(await store.append([...batch, event(1, "loss", 3)])).toEqual({ accepted: 1, duplicates: 2 });
      expect((await all()).map((r) => r.number)).toEqual([1, 2, 3]);
    });

    it("skips seen ids in large appends too, repeated within one append or across appends", async () => {
      const first = Array.from({ length: 20 }, (_, i) => event(1, "loss", i));
      const fresh = Array.from({ length: 16 }, (_, i) => event(1, "loss", 100 + i));
      expect(await store.append(first)).toEqual({ accepted: 20, duplicates: 0 });
      expect(await store.append([...first.slice(0, 10), ...fresh, fresh[3]!, ...first.slice(10)])).toEqual({ accepted: 16, duplicates: 21 });
      expect((await all()).map((r) => r.number)).toEqual([...first, ...fresh].map((e) => e.number));
    });

    it("selects runs by list and range, and filters with AND / OR over every column", async () => {
      const rows: TrackedEvent[] = [];
      for (let run = 1; run <= 5; run++) {
        for (let step = 0; step < 3; step++) rows.push(event(run, "loss", run + step / 10, { step }));
        rows.push(event(run, "lr", "0.1", { event: "param" }));
      }
      await store.append(rows);
      expect(new Set((await all({ runs: { runs: [1, 3] } })).map((r) => r.run))).toEqual(new Set([1, 3]));
      expect(new Set((await all({ runs: { from: 2, to: 4 } })).map((r) => r.run))).toEqual(new Set([2, 3, 4]));
      const filtered = await all({ filter: 'event = "metric" AND step >= 2 AND run IN (1, 2) OR key = "lr" AND run = 5' });
      expect(filtered.map((r) => [r.run, r.key, r.step])).toEqual([[1, "loss", 2], [2, "loss", 2], [5, "lr", 0]]);
      expect((await all({ filter: "value > 4.1" })).map((r) => r.number)).toEqual([4.2, 5, 5.1, 5.2]);
      expect((await all({ filter: 'value = "0.1"' })).length).toBe(5);
      expect((await all({ filter: 'dt >= "2026-11-25T10:00:04Z" AND key = "lr"' })).map((r) => r.run)).toEqual([4, 5]);
      expect((await all({ filter: 'NOT (key = "loss")' })).length).toBe(5);
    });

    it("pages large results in order, each page its own columns", async () => {
      const rows = Array.from({ length: 2_500 }, (_, i) => event(1 + (i % 2), "m", i, { step: i, key: i % 3 ? "m" : "n" }));
      await store.append(rows);
      const pages: EventPage[] = [];
      for await (const page of store.query({ experiment, runs: { all: true }, pageSize: 1_000 })) pages.push(page);
      expect(pages.map((p) => p.length)).toEqual([1_000, 1_000, 500]);
      // Read only now: a page must not change when the next one is built.
      const read = pages.flatMap((p) => eventsOf(p, experiment));
      const expected = rows.map(withoutId).sort((a, b) => a.run - b.run || a.step - b.step);
      expect(read).toEqual(expected);
      for (const p of pages) expect([p.run, p.dt, p.step, p.valueType, p.number, p.text, p.key.indices].map((c) => c.length)).toEqual(Array(7).fill(p.length));
    });

    it("names the position of a bad filter", async () => {
      await expect(all({ filter: 'colour = "red"' })).rejects.toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_FILTER", message: expect.stringMatching(/unknown column "colour".*position 0/) });
      await expect(all({ filter: 'key = "a" AND step = "x"' })).rejects.toMatchObject({ reason: "INVALID_FILTER", message: expect.stringContaining("position 14") });
    });

    it("deletes an experiment's events only", async () => {
      await store.append([event(1, "a", 1), { ...event(1, "a", 1), experiment: `${experiment}-other` }]);
      expect(await store.deleteExperiment(experiment)).toBe(1);
      expect(await all()).toEqual([]);
      const other: ReadEvent[] = [];
      for await (const page of store.query({ experiment: `${experiment}-other`, runs: { all: true } })) other.push(...eventsOf(page, `${experiment}-other`));
      expect(other).toHaveLength(1);
      expect(await store.summarize({ experiment, runs: { all: true }, events: ["metric"] })).toEqual([]);
      expect(await store.summarize({ experiment: `${experiment}-other`, runs: { all: true }, events: ["metric"] })).toHaveLength(1);
      await store.deleteExperiment(`${experiment}-other`);
    });

    it("summarizes each (run, event, key) of rows and batches: the latest by step, then dt, then logging order, and min, max and count of its numbers", async () => {
      const at = (s: number) => Date.parse("2026-11-25T10:00:00Z") + s * 1000;
      const rows = [
        event(1, "loss", 0.9, { step: 0, dt: at(0) }),
        event(1, "loss", 0.5, { step: 2, dt: at(2) }),
        event(1, "loss", 0.7, { step: 1, dt: at(5) }), // logged later, at a lower step: not the latest
        event(1, "depth", "3", { event: "param", dt: at(0) }),
        event(1, "note", "hi", { event: "custom" }),
        event(2, "acc", NaN, { step: 4, dt: at(1) }),
        event(2, "acc", 0.25, { step: 4, dt: at(1) }), // the same step and time, logged after: the latest
        event(2, "gone", NaN, { step: 0 }),
      ];
      expect(await store.append(rows)).toEqual({ accepted: 8, duplicates: 0 });
      expect(await store.append(rows.slice(0, 2))).toEqual({ accepted: 0, duplicates: 2 }); // counted once
      expect(await store.append([rows[2]!, event(2, "extra", 7, { step: 1 })])).toEqual({ accepted: 1, duplicates: 1 }); // the new one alone
      const batch = asBatch([event(1, "loss", 0.1, { step: 2, dt: at(3) }), event(1, "loss", 2, { step: 0, dt: at(9) }), event(1, "lr", "0.01", { event: "param" })], 1);
      await store.appendBatch(batch);
      await store.appendBatch(batch);

      const summaries = await store.summarize({ experiment, runs: { all: true }, events: ["metric", "param"] });
      expect(summaries.map((x) => [x.run, x.event, x.key])).toEqual([
        [1, "metric", "loss"],
        [1, "param", "depth"],
        [1, "param", "lr"],
        [2, "metric", "acc"],
        [2, "metric", "extra"],
        [2, "metric", "gone"],
      ]);
      expect(summaries[0]).toEqual({ run: 1, event: "metric", key: "loss", step: 2, dt: at(3), valueType: "number", number: 0.1, min: 0.1, max: 2, numbers: 5 });
      expect(summaries[1]).toEqual({ run: 1, event: "param", key: "depth", step: 0, dt: at(0), valueType: "text", text: "3", numbers: 0 });
      expect(summaries[2]).toMatchObject({ valueType: "text", text: "0.01", numbers: 0 });
      expect(summaries[3]).toEqual({ run: 2, event: "metric", key: "acc", step: 4, dt: at(1), valueType: "number", number: 0.25, min: 0.25, max: 0.25, numbers: 2 });
      expect(summaries[4]).toMatchObject({ number: 7, min: 7, max: 7, numbers: 1 });
      expect(summaries[5]).toMatchObject({ valueType: "number", numbers: 1 });
      expect(summaries[5]!.number).toBeNaN();
      expect(summaries[5]!.min).toBeUndefined();

      expect((await store.summarize({ experiment, runs: { runs: [2] }, events: ["metric"] })).map((x) => x.key)).toEqual(["acc", "extra", "gone"]);
      expect((await store.summarize({ experiment, runs: { from: 1, to: 1 }, events: ["custom"] })).map((x) => [x.key, x.text])).toEqual([["note", "hi"]]);
      expect(await store.summarize({ experiment, runs: { all: true }, events: [] })).toEqual([]);
      // Only the keys asked for, of any of the kinds asked for.
      const keyed = async (keys: string[], events = ["metric", "param"]) => (await store.summarize({ experiment, runs: { all: true }, events, keys })).map((x) => [x.run, x.event, x.key]);
      expect(await keyed(["loss", "lr", "acc"])).toEqual([
        [1, "metric", "loss"],
        [1, "param", "lr"],
        [2, "metric", "acc"],
      ]);
      expect(await keyed(["loss", "lr"], ["param"])).toEqual([[1, "param", "lr"]]);
      expect(await keyed([])).toEqual([]);
      // A list of runs longer than SQLite takes parameters (a page of MLflow's run search may name 50,000).
      const many = Array.from({ length: 40_000 }, (_, i) => i + 1);
      expect(await store.summarize({ experiment, runs: { runs: many }, events: ["metric", "param"] })).toEqual(summaries);
      expect((await store.summarize({ experiment, runs: { runs: [1] }, events: ["metric"], keys: ["loss"] }))[0]).toEqual(summaries[0]);
    });

    it("ranks runs by their latest number of a key, a stretch at a time, both ways", async () => {
      const at = (s: number) => Date.parse("2026-11-25T10:00:00Z") + s * 1000;
      await store.append([
        event(1, "acc", 0.5, { step: 0 }),
        event(1, "acc", 0.9, { step: 1 }), // run 1's latest: 0.9
        event(2, "acc", 0.7),
        event(3, "acc", 0.9), // ties run 1
        event(4, "acc", 0.8, { step: 2, dt: at(1) }),
        event(4, "acc", NaN, { step: 2, dt: at(2) }), // the latest is NaN: not ranked
        event(5, "acc", "high"), // not a number
        event(6, "acc", -Infinity),
        event(7, "loss", 0.1), // another key
        event(8, "acc", 0.3, { event: "param" }), // another event
        event(9, "acc", 0.95, { experiment: `${experiment}-other` }),
      ]);
      await store.appendBatch(asBatch([event(2, "acc", 0.2, { step: 5 })], 2)); // run 2's latest by step: 0.2
      const rank = async (descending: boolean, limit = 100, after?: { run: number; number: number }) =>
        (await store.ranked({ experiment, event: "metric", key: "acc", descending, limit, after })).map((r) => [r.run, r.number]);
      const best = [
        [3, 0.9],
        [1, 0.9],
        [2, 0.2],
        [6, -Infinity],
      ];
      expect(await rank(true)).toEqual(best);
      expect(await rank(false)).toEqual([...best].reverse());
      // In stretches, each after the last one read, ties broken by the run.
      expect(await rank(true, 1)).toEqual([best[0]]);
      expect(await rank(true, 2, { run: 3, number: 0.9 })).toEqual(best.slice(1, 3));
      expect(await rank(true, 2, { run: 2, number: 0.2 })).toEqual(best.slice(3));
      expect(await rank(false, 2, { run: 1, number: 0.9 })).toEqual([[3, 0.9]]);
      expect(await rank(false, 5, { run: 3, number: 0.9 })).toEqual([]);
      expect(await store.ranked({ experiment, event: "param", key: "acc", descending: true, limit: 10 })).toEqual([{ run: 8, number: 0.3 }]);
      expect(await store.ranked({ experiment, event: "metric", key: "nothing", descending: true, limit: 10 })).toEqual([]);
      await store.deleteExperiment(`${experiment}-other`);
    });

    it("runs queries side by side, and after one left midway the next reads every event, the newest too", async () => {
      await store.append([event(1, "loss", 1), event(1, "loss", 2, { step: 1 }), event(2, "loss", 5)]);
      await store.appendBatch(asBatch([event(1, "loss", 3, { step: 2 })], 1));
      const numbers = (page: EventPage) => Array.from(page.number);
      const left = store.query({ experiment, runs: { runs: [1] }, pageSize: 1 })[Symbol.asyncIterator]();
      const beside = store.query({ experiment, runs: { runs: [2] } })[Symbol.asyncIterator]();
      expect(numbers((await left.next()).value as EventPage)).toEqual([1]);
      expect(numbers((await beside.next()).value as EventPage)).toEqual([5]);
      expect(numbers((await left.next()).value as EventPage)).toEqual([2]);
      await left.return?.(undefined);
      await beside.return?.(undefined);
      await store.append([event(1, "loss", 4, { step: 3 })]);
      for (let again = 0; again < 3; again++) expect((await all({ runs: { runs: [1] } })).map((e) => e.number)).toEqual([1, 2, 3, 4]);
    });

    it("reads only the event kinds asked for, from rows and batches alike", async () => {
      await store.append([event(1, "loss", 1), event(1, "data", '{"name":"iris"}', { event: "input", valueType: "json" })]);
      await store.appendBatch(asBatch([event(1, "loss", 2), event(1, "lr", "0.1", { event: "param" })], 1));
      await store.appendBatch(asBatch([event(2, "loss", 3)], 2));
      const kinds = async (events: string[], filter?: string) => (await all({ events, filter })).map((r) => [r.run, r.event, r.key]);
      expect(await kinds(["input", "param"])).toEqual([
        [1, "input", "data"],
        [1, "param", "lr"],
      ]);
      expect(await kinds(["metric"], "run = 2")).toEqual([[2, "metric", "loss"]]);
      expect(await kinds([])).toEqual([]);
      // A filter that requires kinds reads the same as asking for them (a store may skip other batches for it).
      const filtered = async (filter: string) => (await all({ filter })).map((r) => [r.run, r.event, r.key]);
      expect(await filtered('event = "param" OR event = "input"')).toEqual(await kinds(["input", "param"]));
      expect(await filtered('event IN ("param", "metric") AND NOT event = "metric"')).toEqual([[1, "param", "lr"]]);
    });
  });
}
