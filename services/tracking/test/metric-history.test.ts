import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { GetMetricHistoryRequestSchema } from "@kiln/proto/kiln/tracking/v1/tracking_pb";
import type { TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "../src/deps.js";
import { sampledPoints, type MetricSeries } from "../src/metric-series.js";
import { MAX_HISTORY_PAGE, metricHistory } from "../src/query.js";
import { startRun } from "../src/runs.js";
import { testDeps } from "./test-deps.js";

const EXPERIMENT = "projects/default/experiments/training";
const RUN = `${EXPERIMENT}/runs/1`;
const POINTS = 300_000; // more than one answer holds
const T0 = Date.parse("2026-12-01T00:00:00Z");

/** The loss at a step: a decaying curve with a spike every 50,000 steps, and NaN at step 123,456. */
const loss = (step: number) => (step === 123_456 ? NaN : step % 50_000 === 25_000 ? 10 : 1 / (1 + step / 1000));

describe("GetMetricHistory of a long run: pages, and samples to draw", () => {
  let dir: string;
  let deps: TrackingDeps;
  const history = (fields: { key?: string; pageSize?: number; pageToken?: string; maxPoints?: number }) => metricHistory(deps, create(GetMetricHistoryRequestSchema, { run: RUN, key: "loss", ...fields }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-metric-history-"));
    deps = testDeps(dir);
    await startRun(deps, { parent: EXPERIMENT, createExperiment: true, tags: {}, node: "", runKey: "" });
    const events: TrackedEvent[] = [];
    for (let step = 0; step < POINTS; step++) {
      // Logged out of step order now and then (the last 10 of each 100,000 first), and another key between.
      const at = step % 100_000 >= 99_990 ? step - 99_990 - 0.5 : step;
      events.push({ id: `l${step}`, experiment: EXPERIMENT, run: 1, event: "metric", dt: T0 + at, node: "", step, key: "loss", valueType: "number", number: loss(step) });
      if (step % 1000 === 0) events.push({ id: `a${step}`, experiment: EXPERIMENT, run: 1, event: "metric", dt: T0 + at, node: "", step, key: "acc", valueType: "number", number: step / POINTS });
    }
    events.sort((a, b) => a.dt - b.dt);
    for (let i = 0; i < events.length; i += 50_000) await deps.events.append(events.slice(i, i + 50_000));
  }, 120_000);
  afterAll(async () => {
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses every point in one answer when they are more than one holds, saying how to ask", async () => {
    await expect(history({})).rejects.toMatchObject({ reason: "HISTORY_TOO_LARGE", message: expect.stringMatching(/has 300000 points, more than one answer holds \(250000\): ask for pages \(page_size\) or a sample/) });
  });

  it("pages through every point in step order, the pages bound to what they were asked for", async () => {
    const steps: number[] = [];
    const values: number[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await history({ pageSize: 70_000, pageToken });
      expect(page.totalSize).toBe(BigInt(POINTS));
      expect(page.points.length).toBeLessThanOrEqual(70_000);
      for (const p of page.points) steps.push(Number(p.step)), values.push(p.value);
      pageToken = page.nextPageToken;
      pages++;
      if (pages === 1) await expect(history({ pageSize: 70_000, pageToken, maxPoints: 100 })).rejects.toMatchObject({ reason: "INVALID_PAGE_TOKEN" });
    } while (pageToken);
    expect(pages).toBe(5);
    expect(steps).toEqual(Array.from({ length: POINTS }, (_, i) => i));
    expect(values.map((v, i) => Object.is(v, loss(i)))).not.toContain(false);
    // Pages larger than one answer holds are taken as that.
    const big = await history({ pageSize: 1_000_000 });
    expect(big.points).toHaveLength(MAX_HISTORY_PAGE);
    expect(big.nextPageToken).not.toBe("");
  });

  it("samples to at most max_points, keeping the first, the last and the spikes, and leaving out NaN", async () => {
    const sample = await history({ maxPoints: 500 });
    expect(sample.totalSize).toBe(BigInt(POINTS));
    expect(sample.nextPageToken).toBe("");
    expect(sample.points).toHaveLength(500);
    const steps = sample.points.map((p) => Number(p.step));
    expect(steps[0]).toBe(0);
    expect(steps.at(-1)).toBe(POINTS - 1);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    for (const spike of [25_000, 75_000, 125_000, 175_000, 225_000, 275_000]) expect(steps).toContain(spike);
    expect(sample.points.every((p) => Number.isFinite(p.value) && p.value === loss(Number(p.step)))).toBe(true);
    // A sample is paged like the rest.
    const first = await history({ maxPoints: 500, pageSize: 300 });
    const second = await history({ maxPoints: 500, pageSize: 300, pageToken: first.nextPageToken });
    expect([...first.points, ...second.points].map((p) => Number(p.step))).toEqual(steps);
    expect(second.nextPageToken).toBe("");
  });

  it("answers a short history whole, whatever max_points", async () => {
    const acc = await history({ key: "acc", maxPoints: 1000 });
    expect(acc.points).toHaveLength(300);
    expect(acc.totalSize).toBe(300n);
    expect((await history({ key: "acc" })).points).toHaveLength(300);
  });

  it("refuses a negative page size or max_points, and a token of its own kind for another key", async () => {
    await expect(history({ pageSize: -1 })).rejects.toMatchObject({ reason: "INVALID_PAGE_SIZE" });
    await expect(history({ maxPoints: -1 })).rejects.toMatchObject({ reason: "INVALID_MAX_POINTS" });
    const page = await history({ pageSize: 10 });
    await expect(history({ key: "acc", pageSize: 10, pageToken: page.nextPageToken })).rejects.toMatchObject({ reason: "INVALID_PAGE_TOKEN" });
    await expect(history({ pageToken: "nonsense" })).rejects.toMatchObject({ reason: "INVALID_PAGE_TOKEN" });
  });
});

describe("sampledPoints (Largest-Triangle-Three-Buckets)", () => {
  const series = (values: number[]): MetricSeries => ({
    length: values.length,
    step: Float64Array.from(values, (_, i) => i * 10),
    dt: new Float64Array(values.length),
    value: Float64Array.from(values),
    numeric: new Uint8Array(values.length).fill(1),
  });

  it("keeps every point when there are no more than asked for, or when none is asked for", () => {
    expect(sampledPoints(series([1, 2, 3]), 3)).toBeUndefined();
    expect(sampledPoints(series([1, 2, 3]), 0)).toBeUndefined();
  });

  it("keeps the last alone for one, the first and the last for two", () => {
    expect(sampledPoints(series([5, 1, 9, 2]), 1)).toEqual([3]);
    expect(sampledPoints(series([5, 1, 9, 2]), 2)).toEqual([0, 3]);
  });

  it("takes from each bucket the point farthest off the line, not every nth", () => {
    // Ten points, flat but for a dip at 3 and a peak at 7: four kept are the ends and both.
    expect(sampledPoints(series([0, 0, 0, -5, 0, 0, 0, 5, 0, 0]), 4)).toEqual([0, 3, 7, 9]);
  });

  it("draws from finite values only, all of them when they are few enough", () => {
    expect(sampledPoints(series([1, NaN, 2, Infinity, 3]), 3)).toEqual([0, 2, 4]);
  });
});
