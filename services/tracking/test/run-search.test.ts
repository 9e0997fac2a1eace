import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Json } from "@kiln/core";
import type { TrackedEvent } from "@kiln/storage";
import type { TrackingDeps } from "../src/deps.js";
import type { MlflowCall } from "../src/mlflow-http.js";
import { searchRuns } from "../src/mlflow-run-search.js";
import { createExperiment } from "../src/experiments.js";
import { collections } from "../src/records.js";
import { runStartKey } from "../src/run-starts.js";
import { changeRun, startRun } from "../src/runs.js";
import { testDeps } from "./test-deps.js";

const EXPERIMENT = "projects/default/experiments/sweep";
const OTHER = "projects/default/experiments/sweep-b";
const RUNS = 60;
const T0 = Date.parse("2026-12-01T00:00:00Z");

type Page = { runs?: { info: { run_id: string }; data: { metrics: Json[]; params: Json[] } }[]; next_page_token?: string };

/** MLflow's runs/search of the experiment "sweep" (unless the fields name others), page by page, and answered by a sorted read. */
function runSearches(deps: () => TrackingDeps) {
  const call = (fields: Record<string, Json>): MlflowCall => ({ project: "projects/default", path: "mlflow/runs/search", fields: { experiment_ids: ["sweep"], ...fields }, req: undefined as never, res: undefined as never });
  const search = async (fields: Record<string, Json>) => (await searchRuns(deps(), call(fields))) as Page;
  return {
    search,
    /** Every page of a search, max_results at a time: its run ids in order. */
    async allPages(fields: Record<string, Json>, maxResults: number): Promise<string[]> {
      const ids: string[] = [];
      let token: string | undefined;
      do {
        const page = await search({ ...fields, max_results: maxResults, ...(token && { page_token: token }) });
        ids.push(...(page.runs ?? []).map((r) => r.info.run_id));
        token = page.next_page_token;
      } while (token);
      return ids;
    },
    /** The same search answered by reading every run and sorting, as a search of more than a page (1,000) is (here with an experiment of no runs beside). */
    sorted: async (fields: Record<string, Json>) => ((await search({ experiment_ids: ["sweep", "empty"], ...fields, max_results: 5000 })).runs ?? []).map((r) => r.info.run_id),
  };
}

/**
 * MLflow's usual run search (newest first, or oldest) reads the runs in their experiments'
 * start order until its page is full; it must answer what reading them all and sorting answers.
 */
describe("runs/search in start order", () => {
  let dir: string;
  let deps: TrackingDeps;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-run-search-"));
    deps = testDeps(dir);
    await createExperiment(deps, "projects/default", "empty", "", {});
    const events: TrackedEvent[] = [];
    for (let i = 0; i < RUNS; i++) {
      // Start times out of number order, some the same (ties go to the later run).
      const start = T0 + ((i * 37) % RUNS) * 1000 - (i % 5 === 0 ? ((i * 37) % RUNS) * 1000 : 0);
      const run = await startRun(deps, { parent: EXPERIMENT, createExperiment: true, tags: { team: `t${i % 3}` }, node: "", runKey: "" }, "", new Date(start));
      events.push({ id: `p${i}`, experiment: EXPERIMENT, run: run.run, event: "param", dt: start, node: "", step: 0, key: "model", valueType: "text", text: i % 4 ? "tree" : "linear" });
      if (i % 6) events.push({ id: `m${i}`, experiment: EXPERIMENT, run: run.run, event: "metric", dt: start, node: "", step: 0, key: "acc", valueType: "number", number: (i % 10) / 10 });
      if (i % 7 === 0) await changeRun(deps, EXPERIMENT, run.run, (r) => ({ ...r, deletedTime: new Date(start).toISOString() }));
    }
    // A second experiment whose starts fall among the first's, some on the same start with the same run number.
    for (let i = 0; i < 25; i++) {
      const start = T0 + (i % 4 === 0 ? 0 : ((i * 13) % 40) * 1000);
      const run = await startRun(deps, { parent: OTHER, createExperiment: true, tags: { team: `t${i % 2}` }, node: "", runKey: "" }, "", new Date(start));
      events.push({ id: `o${i}`, experiment: OTHER, run: run.run, event: "param", dt: start, node: "", step: 0, key: "model", valueType: "text", text: i % 3 ? "tree" : "linear" });
      if (i % 5 === 2) await changeRun(deps, OTHER, run.run, (r) => ({ ...r, deletedTime: new Date(start).toISOString() }));
    }
    await deps.events.append(events);
  });
  afterAll(async () => {
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  const { search, allPages, sorted } = runSearches(() => deps);

  const searches: Record<string, Json>[] = [
    {},
    { order_by: ["attributes.start_time DESC"] },
    { filter: "params.model = 'tree'" },
    { filter: "metrics.acc >= 0.5 AND tags.team != 't1'" },
    { filter: "attributes.status = 'RUNNING'", run_view_type: "ALL" },
    { run_view_type: "DELETED_ONLY" },
    { filter: "metrics.acc > 2" },
    { order_by: ["start_time ASC"] },
    { order_by: ["attributes.start_time"], filter: "params.model = 'linear'", run_view_type: "ALL" },
    // Ordered by a metric or param first: many runs share a value, and some have none (last).
    { order_by: ["metrics.acc DESC"] },
    { order_by: ["metrics.acc"], filter: "tags.team = 't2'" },
    { order_by: ["params.model", "metrics.acc DESC"] },
    { order_by: ["metrics.acc DESC", "start_time ASC"], run_view_type: "ALL" },
    { order_by: ["metrics.acc DESC"], filter: "params.model = 'linear'" },
  ];

  it("pages through the same runs in the same order as a sorted read, whatever the filter, view and order", async () => {
    for (const fields of searches) {
      const expected = await sorted(fields);
      expect(await allPages(fields, 7), JSON.stringify(fields)).toEqual(expected);
      expect(await allPages(fields, 1000), JSON.stringify(fields)).toEqual(expected);
    }
    const newest = await sorted({});
    expect(newest).toHaveLength(RUNS - Math.ceil(RUNS / 7));
    expect((await search({ filter: "metrics.acc > 2" })).runs).toEqual([]);
  });

  it("merges the start orders of several experiments, newest or oldest first, in pages that go on where they left off", async () => {
    const both = ["sweep", "sweep-b", "empty"];
    const merged: Record<string, Json>[] = [
      {},
      { order_by: ["start_time ASC"] },
      { filter: "params.model = 'linear'" },
      { filter: "tags.team = 't1'", order_by: ["start_time ASC"], run_view_type: "ALL" },
      { run_view_type: "DELETED_ONLY" },
    ];
    for (const fields of merged) {
      const expected = await sorted({ ...fields, experiment_ids: both });
      expect(new Set(expected.map((id) => id.split("-r")[0])), JSON.stringify(fields)).toEqual(new Set(["sweep", "sweep-b"]));
      for (const size of [1, 7, 1000]) expect(await allPages({ ...fields, experiment_ids: both }, size), `${JSON.stringify(fields)} in pages of ${size}`).toEqual(expected);
    }
    // Run 1 of each started at the same time: the order of their ids settles it, the same in both reads.
    const newest = await sorted({ experiment_ids: both, run_view_type: "ALL" });
    expect(newest.slice(-2)).toEqual(["sweep-b-r1", "sweep-r1"]);
  });

  it("answers the page's runs whole, not only what the filter read", async () => {
    const [first] = (await search({ filter: "params.model = 'tree'", max_results: 1 })).runs!;
    expect(first!.data.params).toEqual([{ key: "model", value: "tree" }]);
    expect(first!.data.metrics).toHaveLength(1);
  });

  it("refuses a page token made for another filter", async () => {
    const { next_page_token: token } = await search({ filter: "params.model = 'tree'", max_results: 2 });
    await expect(search({ filter: "params.model = 'linear'", max_results: 2, page_token: token! })).rejects.toThrow(/another filter/);
  });

  it("makes the start order of an experiment from before it, and skips leftovers of failed starts", async () => {
    const expected = await sorted({});
    const { experiments, runStarts, runs } = collections(deps);
    // As an experiment from before the index: no entries, no mark.
    await runStarts.deletePrefix(`${EXPERIMENT}/`);
    const stored = (await experiments.get(EXPERIMENT))!;
    const { runStartsKept: _, ...unmarked } = stored.value;
    await experiments.update(EXPERIMENT, unmarked, stored.rev);
    // Leftovers: an entry for a run that was never made, and one for run 4 at another start.
    await runStarts.create(runStartKey(EXPERIMENT, new Date(T0).toISOString(), 999), { run: 999 });
    await runStarts.create(runStartKey(EXPERIMENT, new Date(T0 + 999_000).toISOString(), 4), { run: 4 });
    expect(await allPages({}, 7)).toEqual(expected);
    expect(await runStarts.count(`${EXPERIMENT}/`)).toBe((await runs.count(`${EXPERIMENT}/runs/`)) + 2);
    expect((await experiments.get(EXPERIMENT))!.value.runStartsKept).toBe(true);
    // A run started by an older tracking service (no entry) in a marked experiment: mended too, as entries are then fewer than runs.
    await runStarts.deletePrefix(`${EXPERIMENT}/000`);
    expect(await allPages({ filter: "params.model = 'linear'" }, 4)).toEqual(await sorted({ filter: "params.model = 'linear'" }));
  });
});

/**
 * A search ordered by a metric reads the runs in the metric's order (the event store's
 * ranking) a stretch at a time, each ending where the value changes: with more runs than a
 * stretch, and groups of equal values across where a stretch would end, it must answer what
 * reading them all and sorting answers.
 */
describe("runs/search ordered by a metric, in stretches", () => {
  const RANKED = 700;
  let dir: string;
  let deps: TrackingDeps;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-run-search-ranked-"));
    deps = testDeps(dir);
    await createExperiment(deps, "projects/default", "empty", "", {});
    const events: TrackedEvent[] = [];
    const metric = (run: number, key: string, value: number, step = 0): TrackedEvent => ({ id: `${key}${run}-${step}`, experiment: EXPERIMENT, run, event: "metric", dt: T0, node: "", step, key, valueType: "number", number: value });
    for (let i = 0; i < RANKED; i++) {
      const run = (await startRun(deps, { parent: EXPERIMENT, createExperiment: true, tags: { team: `t${i % 3}` }, node: "", runKey: "" }, "", new Date(T0 + (i % 50) * 1000))).run;
      // Eleven values of 60-odd runs each (a group crosses every stretch's end), infinities of both signs, a NaN latest, and runs without it.
      const acc = i % 97 === 0 ? NaN : i % 89 === 0 ? Infinity : i % 83 === 0 ? -Infinity : (i % 11) / 10;
      if (i % 13) events.push(metric(run, "acc", i % 2 ? 0.42 : -1, 0), metric(run, "acc", acc, 1));
      events.push(metric(run, "loss", i % 7));
      events.push({ id: `p${i}`, experiment: EXPERIMENT, run, event: "param", dt: T0, node: "", step: 0, key: "depth", valueType: "text", text: String(i % 4) });
      if (i % 17 === 0) await changeRun(deps, EXPERIMENT, run, (r) => ({ ...r, deletedTime: new Date(T0).toISOString() }));
    }
    // A second experiment whose values tie with the first's, for a search of both.
    for (let i = 0; i < 300; i++) {
      const run = (await startRun(deps, { parent: OTHER, createExperiment: true, tags: { team: `t${i % 2}` }, node: "", runKey: "" }, "", new Date(T0 + (i % 40) * 1000))).run;
      if (i % 9) events.push({ ...metric(run, "acc", i % 3 ? (i % 11) / 10 : Infinity), experiment: OTHER, id: `b-acc${i}` });
      events.push({ id: `b-p${i}`, experiment: OTHER, run, event: "param", dt: T0, node: "", step: 0, key: "depth", valueType: "text", text: String(i % 5) });
    }
    await deps.events.append(events);
  });
  afterAll(async () => {
    await deps.events.close();
    await deps.metadata.close();
    await rm(dir, { recursive: true, force: true });
  });

  const { search, allPages, sorted } = runSearches(() => deps);

  it("pages through the runs in the order a sorted read gives, both ways, filtered and tied", async () => {
    const searches: Record<string, Json>[] = [
      { order_by: ["metrics.acc DESC"] },
      { order_by: ["metrics.acc"] },
      { order_by: ["metrics.acc DESC", "metrics.loss ASC"], filter: "tags.team != 't1'" },
      { order_by: ["metrics.acc DESC", "params.depth DESC", "start_time ASC"], run_view_type: "ALL" },
      { order_by: ["metrics.acc"], filter: "metrics.acc >= 0.5 AND params.depth = '2'" },
      { order_by: ["params.depth DESC", "metrics.acc DESC"] },
      { order_by: ["metrics.acc DESC"], run_view_type: "DELETED_ONLY" },
    ];
    for (const fields of searches) {
      const expected = await sorted(fields);
      for (const size of [7, 300, 1000]) expect(await allPages(fields, size), `${JSON.stringify(fields)} in pages of ${size}`).toEqual(expected);
    }
    // Of two experiments, merged: values tie across them (the later start, then the higher run number, first).
    for (const fields of searches.slice(0, 6)) {
      const both = { ...fields, experiment_ids: ["sweep", "sweep-b"] };
      const expected = await sorted({ ...both, experiment_ids: ["sweep", "sweep-b", "empty"] });
      expect(new Set(expected.map((id) => id.split("-r")[0])), JSON.stringify(fields)).toEqual(new Set(["sweep", "sweep-b"]));
      for (const size of [7, 300, 1000]) expect(await allPages(both, size), `${JSON.stringify(fields)} of two experiments in pages of ${size}`).toEqual(expected);
    }
    // The best run first; the runs without the metric, or whose latest is NaN, last.
    const best = await sorted({ order_by: ["metrics.acc DESC"] });
    expect(best).toHaveLength(RANKED - Math.ceil(RANKED / 17));
    const first = (await search({ order_by: ["metrics.acc DESC"], max_results: 1 })).runs![0]!.info.run_id;
    expect(first).toBe(best[0]);
  });
});
