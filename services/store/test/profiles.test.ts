import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { InvalidArgumentError, NotFoundError } from "@kiln/sdk";
import { PROFILES } from "../src/profiles.js";
import { startHarness, type Harness } from "./harness.js";

/** n rows of an age drawn around `mean` (evenly spread, so the tests are exact), a city from `cities` in turn, and an id. */
function people(n: number, mean: number, cities: string[], from = 0) {
  return Array.from({ length: n }, (_, i) => ({ id: from + i, age: mean - 20 + (40 * i) / n, city: cities[i % cities.length]! }));
}

describe("store: profiles and drift", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const kept = () => h.deps.metadata.collection(PROFILES).count();

  it("profiles a version or a selection of it, column by column, computed once", async () => {
    await h.kiln.datasets.put("people", people(1_000, 40, ["berlin", "paris"]));
    await h.kiln.datasets.put("people", [{ id: 5000, age: null, city: "rome" }]);
    const whole = await h.kiln.datasets.profile("people");
    expect(whole.selection).toEqual({ dataset: "people", version: 2, columns: [], filter: "" });
    expect(whole.rows).toBe(1_001);
    const [id, age, city] = whole.columns;
    expect(id).toMatchObject({ name: "id", type: "Float64", kind: "numeric", count: 1_001, nulls: 0, min: 0, max: 5000 });
    expect(age).toMatchObject({ name: "age", type: "Float64", kind: "numeric", count: 1_000, nulls: 1, min: 20, max: 59.96, sampled: 1_000 });
    expect(age!.mean).toBeCloseTo(39.98, 9);
    expect(age!.percentiles).toHaveLength(101);
    expect(city).toMatchObject({ kind: "categorical", distinct: 3, valuesComplete: true, values: [{ value: "berlin", count: 500 }, { value: "paris", count: 500 }, { value: "rome", count: 1 }] });

    const v1 = await h.kiln.datasets.profile({ dataset: "people", version: 1, columns: ["city"], filter: "age >= 40" });
    expect(v1.selection).toEqual({ dataset: "people", version: 1, columns: ["city"], filter: "age >= 40" });
    expect(v1.rows).toBe(500);
    expect(v1.columns.map((c) => c.name)).toEqual(["city"]);
    expect(await h.kiln.datasets.profile("people@1")).toMatchObject({ selection: { version: 1 }, rows: 1_000 });

    // A version never changes: asked again, even by a service whose clock moved on, the profile is the one kept.
    expect(await kept()).toBe(3);
    const later = await h.kilnAt(() => new Date(Date.now() + 86_400_000));
    expect((await later.datasets.profile("people")).createTime).toEqual(whole.createTime);
    expect(await kept()).toBe(3);
  });

  it("finds drift between two datasets, and none between samples of one", async () => {
    await h.kiln.datasets.put("train", people(4_000, 40, ["berlin", "paris"]));
    await h.kiln.datasets.put("same", people(1_000, 40, ["paris", "berlin"], 4_000));
    await h.kiln.datasets.put("moved", people(1_000, 55, ["berlin", "paris", "rome"], 4_000));
    const same = await h.kiln.datasets.drift({ dataset: "train", columns: ["age", "city"] }, { dataset: "same", columns: ["age", "city"] });
    expect(same).toMatchObject({ drifted: false, driftedCount: 0, missingColumns: [], newColumns: [] });
    expect(same.columns.map((c) => [c.column, c.kind, c.test, c.drifted])).toEqual([
      ["age", "numeric", "ks", false],
      ["city", "categorical", "chi2", false],
    ]);
    expect(same.columns[1]!.psi).toBe(0);

    const moved = await h.kiln.datasets.drift("train", "moved");
    expect(moved.columns.map((c) => c.column)).toEqual(["id", "age", "city"]);
    const [id, age, city] = moved.columns;
    expect(id!.drifted).toBe(true); // ids only grow: drift, as a monitor would say of them
    expect(age).toMatchObject({ drifted: true, test: "ks" });
    expect(age!.meanShift).toBeCloseTo(15 / Math.sqrt(40 ** 2 / 12), 2); // 15 years, in the baseline's std (uniform over 40 years)
    expect(age!.statistic).toBeCloseTo(0.375, 2);
    expect(age!.pValue).toBeLessThan(1e-12);
    expect(city).toMatchObject({ drifted: true, newValues: ["rome"] });
    expect(moved).toMatchObject({ drifted: true, driftedCount: 3, baseline: { selection: { dataset: "train", version: 1 } }, target: { selection: { dataset: "moved" } } });

    // Thresholds: a PSI high enough lets the age pass; a p-value threshold catches it again.
    const lenient = await h.kiln.datasets.drift("train", "moved", { psiThreshold: 1e6 });
    expect(lenient.columns.map((c) => c.drifted)).toEqual([false, false, false]);
    const tested = await h.kiln.datasets.drift("train", "moved", { psiThreshold: 1e6, pValueThreshold: 0.01 });
    expect(tested.columns.map((c) => c.drifted)).toEqual([true, true, true]);
  });

  it("refuses bad selections and thresholds, keeping nothing", async () => {
    await h.kiln.datasets.put("train", people(10, 40, ["a"]));
    await h.kiln.datasets.put("weights", { data: new Float32Array(4), shape: [2, 2] });
    const refused = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);
    expect(await refused(h.kiln.datasets.profile("nope"))).toMatchObject({ constructor: NotFoundError, reason: "DATASET_NOT_FOUND" });
    expect(await refused(h.kiln.datasets.profile("train@7"))).toMatchObject({ constructor: NotFoundError, reason: "VERSION_NOT_FOUND" });
    expect(await refused(h.kiln.datasets.profile("train@x"))).toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_VERSION" });
    expect(await refused(h.kiln.datasets.profile({ dataset: "train", columns: ["salary"] }))).toMatchObject({ constructor: InvalidArgumentError, reason: "UNKNOWN_COLUMN" });
    expect(await refused(h.kiln.datasets.profile({ dataset: "train", filter: "age >" }))).toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_FILTER" });
    expect(await refused(h.kiln.datasets.profile("weights"))).toMatchObject({ constructor: InvalidArgumentError, reason: "NOT_A_TABLE" });
    expect(await refused(h.kiln.datasets.drift("train", "nope"))).toMatchObject({ constructor: NotFoundError, reason: "DATASET_NOT_FOUND" });
    expect(await refused(h.kiln.datasets.drift("train", "train", { psiThreshold: -1 }))).toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_THRESHOLD" });
    expect(await refused(h.kiln.datasets.drift("train", "train", { pValueThreshold: 1 }))).toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_THRESHOLD" });
    const raw = createClient(StoreService, h.transport);
    expect(await refused(raw.profileDataset({}))).toMatchObject({ rawMessage: expect.stringContaining("needs a selection") });
    expect(await refused(raw.compareDatasets({ baseline: { name: "projects/default/datasets/train" } }))).toMatchObject({ rawMessage: expect.stringContaining("needs a target") });
    expect(await kept()).toBe(0);
  });

  it("a dropped dataset's profiles go with it, and a dataset made again under its name is profiled anew", async () => {
    await h.kiln.datasets.put("d", people(100, 40, ["a"]));
    expect((await h.kiln.datasets.profile("d")).rows).toBe(100);
    await h.kiln.datasets.put("other", people(10, 40, ["a"]));
    await h.kiln.datasets.profile("other");
    await h.kiln.datasets.drop("d");
    expect(await kept()).toBe(1);
    await h.kiln.datasets.put("d", people(7, 40, ["a"]));
    expect((await h.kiln.datasets.profile("d")).rows).toBe(7);
  });
});
