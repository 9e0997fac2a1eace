import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFilter } from "@kiln/data";
import { checkEventFilter, openSqliteEventStore, requiredEventKinds } from "../src/index.js";
import { describeEventStore } from "./event-conformance.js";

describeEventStore("SQLite", async () => {
  const dir = await mkdtemp(join(tmpdir(), "kiln-events-"));
  const store = openSqliteEventStore(join(dir, "events.sqlite"));
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

describe("SQLite event store files written before batches were stored as one row each", () => {
  it("keeps their batch events (rows of their own) in order before and among new ones", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-events-old-"));
    const path = join(dir, "events.sqlite");
    const experiment = "projects/default/experiments/old";
    try {
      const first = openSqliteEventStore(path);
      await first.close();
      // What the previous version wrote for a batch: one row per event, no id, seq by SQLite.
      const db = new Database(path);
      const insert = db.prepare(`INSERT INTO tracking_events (id, experiment, run, event, dt, node, step, key, vtype, num, txt) VALUES (NULL, ?, 1, 'metric', 0, 'n', ?, 'loss', 1, ?, NULL)`);
      for (let step = 0; step < 3; step++) insert.run(experiment, step, step / 10);
      db.close();
      const store = openSqliteEventStore(path);
      const batch = { batchId: "b-new", experiment, run: 1, strings: ["metric", "loss", "n"], event: [0, 0], key: [1, 1], node: [2, 2], step: [3, 4], dt: [0, 0], valueType: [1, 1], number: [0.3, 0.4], text: [] };
      await store.appendBatch(batch);
      await store.append([{ id: "e-5", experiment, run: 1, event: "metric", dt: 0, node: "n", step: 5, key: "loss", valueType: "number", number: 0.5 }]);
      const steps: number[] = [];
      for await (const page of store.query({ experiment, runs: { all: true } })) steps.push(...page.step);
      expect(steps).toEqual([0, 1, 2, 3, 4, 5]);
      expect(await store.deleteExperiment(experiment)).toBe(6);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fills the summaries of a file from before them on open, and reads its batches (kinds unknown) by kind", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-events-unsummarized-"));
    const path = join(dir, "events.sqlite");
    const experiment = "projects/default/experiments/before";
    try {
      const first = openSqliteEventStore(path);
      await first.append([{ id: "p-1", experiment, run: 1, event: "param", dt: 0, node: "n", step: 0, key: "depth", valueType: "text", text: "3" }]);
      await first.appendBatch({ batchId: "b-1", experiment, run: 1, strings: ["metric", "loss", "n"], event: [0, 0], key: [1, 1], node: [2, 2], step: [0, 1], dt: [0, 0], valueType: [1, 1], number: [0.9, 0.4], text: [] });
      await first.close();
      // What the previous version had: no summaries, no batch kinds.
      const db = new Database(path);
      db.exec(`DROP TABLE tracking_summaries; DELETE FROM tracking_batch_kinds`);
      db.close();
      const store = openSqliteEventStore(path);
      const summaries = await store.summarize({ experiment, runs: { all: true }, events: ["metric", "param"] });
      expect(summaries.map((x) => [x.key, x.number ?? x.text, x.numbers])).toEqual([
        ["loss", 0.4, 2],
        ["depth", "3", 0],
      ]);
      const metrics: number[] = [];
      for await (const page of store.query({ experiment, runs: { all: true }, events: ["metric"] })) metrics.push(...page.number);
      expect(metrics).toEqual([0.9, 0.4]);
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("the event kinds a filter requires (which batches a query may skip)", () => {
  const kinds = (text: string) => requiredEventKinds(checkEventFilter(parseFilter(text)));
  it("names them through AND and OR, and none through NOT or other columns", () => {
    expect(kinds('event = "param"')).toEqual(["param"]);
    expect(kinds('event IN ("a", "b") AND key = "x"')).toEqual(["a", "b"]);
    expect(kinds('event IN ("a", "b") AND event = "b"')).toEqual(["b"]);
    expect(kinds('event = "a" OR event IN ("b", "a")')).toEqual(["a", "b"]);
    expect(kinds('event = "a" OR key = "x"')).toBeUndefined();
    expect(kinds('NOT event = "a"')).toBeUndefined();
    expect(kinds('event != "a"')).toBeUndefined();
    expect(kinds('key = "x" AND step > 2')).toBeUndefined();
  });
});
