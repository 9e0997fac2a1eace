import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { SummarizeRunsRequestSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "../src/deps.js";
import { summarizeRuns } from "../src/query.js";
import { startRun } from "../src/runs.js";
import { testDeps } from "./test-deps.js";

const EXPERIMENT = "projects/default/experiments/sweep";
const RUNS = 47;

describe("SummarizeRuns in pages", () => {
  let dir: string;
  let deps: TrackingDeps;
  const summarize = (fields: { runs?: string; pageSize?: number; pageToken?: string }, on = deps) => summarizeRuns(on, create(SummarizeRunsRequestSchema, { parent: EXPERIMENT, ...fields }));
  /** Every page's run numbers, and each run's accuracy as its summary says. */
  async function allPages(runs: string, pageSize: number): Promise<{ numbers: number[]; accuracy: number[]; pages: number }> {
    const numbers: number[] = [];
    const accuracy: number[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await summarize({ runs, pageSize, pageToken });
      expect(page.runs.length).toBeLessThanOrEqual(pageSize);
      for (const r of page.runs) numbers.push(Number(r.run!.run)), accuracy.push(r.metrics.acc?.last ?? NaN);
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    return { numbers, accuracy, pages };
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-summarize-runs-"));
    deps = testDeps(dir);
    const events: TrackedEvent[] = [];
    for (let i = 1; i <= RUNS; i++) {
      const run = await startRun(deps, { parent: EXPERIMENT, createExperiment: true, tags: { note: "x".repeat(200) }, node: "", runKey: "" });
      events.push({ id: `m${i}`, experiment: EXPERIMENT, run: run.run, event: "metric", dt: i, node: "", step: 0, key: "acc", valueType: "number", number: i / 100 });
      events.push({ id: `p${i}`, experiment: EXPERIMENT, run: run.run, event: "param", dt: i, node: "", step: 0, key: "depth", valueType: "text", text: String(i % 5) });
    }
    await deps.events.append(events);
  });
  afterAll(async () => {
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("pages through every run in number order, each with its summary", async () => {
    const { numbers, accuracy, pages } = await allPages("all", 10);
    expect(pages).toBe(5);
    expect(numbers).toEqual(Array.from({ length: RUNS }, (_, i) => i + 1));
    expect(accuracy).toEqual(numbers.map((n) => n / 100));
    const whole = await summarize({});
    expect(whole.nextPageToken).toBe("");
    expect(whole.runs.map((r) => Number(r.run!.run))).toEqual(numbers);
    expect(whole.runs[3]!.params).toEqual({ depth: JSON.stringify("4") });
  });

  it("pages a list and a range of runs", async () => {
    expect((await allPages("45,3,9,3,12,1", 2)).numbers).toEqual([1, 3, 9, 12, 45]);
    expect((await allPages("10..20", 4)).numbers).toEqual(Array.from({ length: 11 }, (_, i) => 10 + i));
    const last = await summarize({ runs: "40..47", pageSize: 8 });
    expect([last.runs.length, last.nextPageToken]).toEqual([8, ""]);
  });

  it("binds a page token to its runs, and refuses a negative page size", async () => {
    const { nextPageToken } = await summarize({ runs: "all", pageSize: 5 });
    await expect(summarize({ runs: "1..30", pageSize: 5, pageToken: nextPageToken })).rejects.toMatchObject({ reason: "INVALID_PAGE_TOKEN" });
    await expect(summarize({ pageSize: -1 })).rejects.toMatchObject({ reason: "INVALID_PAGE_SIZE" });
  });

  it("refuses every run in one answer when it would not fit a message, saying to page", async () => {
    const small = { ...deps, limits: { maxMessageBytes: 16 * 1024 } };
    await expect(summarize({}, small)).rejects.toMatchObject({ reason: "SUMMARY_TOO_LARGE", message: expect.stringMatching(/the summaries of 47 runs come to about [\d,]+ bytes, over the message limit \(16,384\): ask for pages \(page_size\)/) });
    expect((await summarize({ runs: "1..10" }, small)).runs).toHaveLength(10);
    expect((await summarize({ pageSize: 47 }, small)).runs).toHaveLength(47);
  });
});
