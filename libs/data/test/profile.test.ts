import { describe, expect, it } from "vitest";
import { Bool, Float64, Int64, Table, TimestampMillisecond, Utf8, tableFromArrays, vectorFromArray, type RecordBatch } from "apache-arrow";
import { chiSquaredPValue, compareProfiles, ksPValue, MAX_TRACKED_VALUES, SAMPLE_SIZE, TableProfiler, type TableProfileData } from "../src/index.js";

function profile(table: Table): TableProfileData {
  const profiler = new TableProfiler(table.schema);
  for (const batch of table.batches as RecordBatch[]) profiler.add(batch);
  return profiler.finish();
}

/** mulberry32: a seeded generator good enough for the tests' draws (an LCG's consecutive pairs are not). */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

/** Deterministic normal draws (Box-Muller), so the tests never flake. */
function normals(n: number, mean: number, std: number, seed: number): Float64Array {
  const uniform = generator(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = mean + std * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return out;
}

function pick<T>(choices: T[], shares: number[], n: number, seed: number): T[] {
  const uniform = generator(seed);
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    let u = uniform();
    let k = 0;
    while (k < shares.length - 1 && u >= shares[k]!) u -= shares[k++]!;
    out.push(choices[k]!);
  }
  return out;
}

describe("profiles", () => {
  it("counts, moments, exact percentiles and value counts per column, NaN and nulls as missing", () => {
    const table = new Table({
      x: vectorFromArray([1, 2, null, 4, Number.NaN, 10], new Float64()),
      n: vectorFromArray([5n, 5n, 7n, null, 5n, 9n], new Int64()),
      city: vectorFromArray(["a", "b", "a", null, "a", "c"], new Utf8()),
      vip: vectorFromArray([true, false, true, true, null, null], new Bool()),
      at: vectorFromArray([Date.UTC(2026, 0, 1), Date.UTC(2026, 0, 3), null, null, null, null], new TimestampMillisecond()),
    });
    const p = profile(table);
    expect(p.rows).toBe(6);
    const [x, n, city, vip, at] = p.columns;
    expect(x).toMatchObject({ name: "x", type: "Float64", kind: "numeric", count: 4, nulls: 2, min: 1, max: 10, mean: 4.25, sampled: 4, valuesComplete: true, distinct: 4 });
    expect(x!.std).toBeCloseTo(Math.sqrt(((1 - 4.25) ** 2 + (2 - 4.25) ** 2 + (4 - 4.25) ** 2 + (10 - 4.25) ** 2) / 4), 12);
    expect(x!.percentiles).toHaveLength(101);
    expect(x!.percentiles[0]).toBe(1);
    expect(x!.percentiles[50]).toBe(3); // numpy: median of 1, 2, 4, 10
    expect(x!.percentiles[100]).toBe(10);
    expect(n).toMatchObject({ type: "Int64", kind: "numeric", count: 5, nulls: 1, mean: 6.2, values: [{ value: "5", count: 3 }, { value: "7", count: 1 }, { value: "9", count: 1 }] });
    expect(city).toMatchObject({ kind: "categorical", count: 5, nulls: 1, distinct: 3, values: [{ value: "a", count: 3 }, { value: "b", count: 1 }, { value: "c", count: 1 }] });
    expect(vip).toMatchObject({ kind: "categorical", count: 4, nulls: 2, values: [{ value: "true", count: 3 }, { value: "false", count: 1 }] });
    expect(at).toMatchObject({ kind: "numeric", count: 2, min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 0, 3) });
  });

  it("estimates percentiles from a uniform sample past its size, the same each time", () => {
    const n = 300_000;
    const values = Float64Array.from({ length: n }, (_, i) => i / n);
    const table = tableFromArrays({ u: values });
    const a = profile(table).columns[0]!;
    expect(a.sampled).toBe(SAMPLE_SIZE);
    expect(a.valuesComplete).toBe(false);
    expect(a.distinct).toBe(MAX_TRACKED_VALUES + 1);
    expect(a.values).toEqual([]);
    for (const p of [10, 25, 50, 75, 90]) expect(Math.abs(a.percentiles[p]! - p / 100)).toBeLessThan(0.01);
    expect(a.percentiles[0]).toBeGreaterThanOrEqual(0);
    expect(a.mean).toBeCloseTo((n - 1) / n / 2, 9); // moments are over every value
    expect(profile(table).columns[0]!.percentiles).toEqual(a.percentiles);
  });
});

describe("drift", () => {
  it("finds no drift between two samples of one distribution", () => {
    const baseline = profile(tableFromArrays({ x: normals(200_000, 0, 1, 1), city: pick(["a", "b", "c"], [0.5, 0.3, 0.2], 200_000, 2) }));
    const target = profile(tableFromArrays({ x: normals(50_000, 0, 1, 3), city: pick(["a", "b", "c"], [0.5, 0.3, 0.2], 50_000, 4) }));
    const report = compareProfiles(baseline, target);
    expect(report).toMatchObject({ drifted: false, driftedCount: 0, missingColumns: [], newColumns: [] });
    const [x, city] = report.columns;
    expect(x).toMatchObject({ kind: "numeric", test: "ks", drifted: false });
    expect(x!.psi).toBeLessThan(0.01);
    expect(x!.statistic).toBeLessThan(0.015);
    expect(x!.pValue).toBeGreaterThan(0.01);
    expect(Math.abs(x!.meanShift)).toBeLessThan(0.03);
    expect(city).toMatchObject({ kind: "categorical", test: "chi2", drifted: false, newValues: [] });
    expect(city!.psi).toBeLessThan(0.01);
    expect(city!.pValue).toBeGreaterThan(0.01);
  });

  it("finds a shifted mean, a changed mix, new values and missing values", () => {
    const baseline = profile(tableFromArrays({ x: normals(100_000, 0, 1, 5), city: pick(["a", "b", "c"], [0.5, 0.3, 0.2], 100_000, 6), age: normals(100_000, 40, 10, 7) }));
    const age = Array.from(normals(20_000, 40, 10, 8), (v, i) => (i % 10 < 3 ? null : v));
    const target = profile(
      new Table({
        x: vectorFromArray(Array.from(normals(20_000, 0.5, 1, 9)), new Float64()),
        city: vectorFromArray(pick(["a", "b", "c", "d"], [0.2, 0.3, 0.2, 0.3], 20_000, 10), new Utf8()),
        age: vectorFromArray(age, new Float64()),
      }),
    );
    const report = compareProfiles(baseline, target);
    const [x, city, ageDrift] = report.columns;
    expect(x!.drifted).toBe(true);
    expect(x!.meanShift).toBeCloseTo(0.5, 1);
    expect(x!.statistic).toBeGreaterThan(0.15);
    expect(x!.pValue).toBeLessThan(1e-9);
    expect(city).toMatchObject({ drifted: true, newValues: ["d"] });
    expect(city!.psi).toBeGreaterThan(1);
    expect(ageDrift!.missingShareChange).toBeCloseTo(0.3, 3);
    expect(ageDrift!.drifted).toBe(true);
    expect(report).toMatchObject({ drifted: true, driftedCount: 3 });
  });

  it("compares few-valued numbers by their exact counts", () => {
    const baseline = profile(tableFromArrays({ flag: Int32Array.from({ length: 10_000 }, (_, i) => (i % 10 < 7 ? 0 : 1)) }));
    const same = profile(tableFromArrays({ flag: Int32Array.from({ length: 1_000 }, (_, i) => (i % 10 < 7 ? 0 : 1)) }));
    const moved = profile(tableFromArrays({ flag: Int32Array.from({ length: 1_000 }, (_, i) => (i % 10 < 4 ? 0 : 1)) }));
    expect(compareProfiles(baseline, same).columns[0]).toMatchObject({ psi: 0, statistic: 0, pValue: 1, drifted: false });
    const drift = compareProfiles(baseline, moved).columns[0]!;
    expect(drift.statistic).toBeCloseTo(0.3, 12);
    expect(drift.psi).toBeCloseTo((0.4 - 0.7) * Math.log(0.4 / 0.7) + (0.6 - 0.3) * Math.log(0.6 / 0.3), 12);
    expect(drift.drifted).toBe(true);
  });

  it("says a column changed type, went missing or came new, and leaves other kinds uncompared", () => {
    const baseline = profile(new Table({ a: vectorFromArray([1, 2, 3], new Float64()), b: vectorFromArray(["x", "y", "z"], new Utf8()), gone: vectorFromArray([1, 2, 3], new Float64()) }));
    const target = profile(new Table({ a: vectorFromArray(["1", "2", "3"], new Utf8()), b: vectorFromArray(["x", "y", "z"], new Utf8()), extra: vectorFromArray([1, 2, 3], new Float64()) }));
    const report = compareProfiles(baseline, target);
    expect(report.columns.map((c) => c.column)).toEqual(["a", "b"]);
    expect(report.columns[0]).toMatchObject({ drifted: true, note: "type changed from Float64 to Utf8" });
    expect(report.columns[1]).toMatchObject({ drifted: false, psi: 0 });
    expect(report).toMatchObject({ missingColumns: ["gone"], newColumns: ["extra"], driftedCount: 1, drifted: true });
    const empty = profile(new Table({ a: vectorFromArray([] as number[], new Float64()) }));
    expect(compareProfiles(empty, profile(new Table({ a: vectorFromArray([1], new Float64()) }))).columns[0]).toMatchObject({ drifted: false, note: "not compared: the baseline has no rows" });
  });

  it("takes a p-value threshold as a second test, and a PSI threshold of its own", () => {
    const baseline = profile(tableFromArrays({ x: normals(50_000, 0, 1, 11) }));
    const target = profile(tableFromArrays({ x: normals(50_000, 0.1, 1, 12) }));
    const [x] = compareProfiles(baseline, target).columns;
    expect(x!.psi).toBeLessThan(0.2);
    expect(x!.drifted).toBe(false);
    expect(compareProfiles(baseline, target, { pValueThreshold: 0.05 }).columns[0]!.drifted).toBe(true);
    expect(compareProfiles(baseline, target, { psiThreshold: x!.psi / 2 }).columns[0]!.drifted).toBe(true);
  });

  it("keeps a category's most frequent values past 1,000 distinct ones, wherever they come (Space-Saving)", () => {
    // Sorted so that 3,000 values seen once come first: the first 1,000 seen would miss both frequent ones.
    const rare = Array.from({ length: 3_000 }, (_, i) => `r${String(i).padStart(4, "0")}`);
    const column = [...rare, ...Array<string>(5_000).fill("zA"), ...Array<string>(3_000).fill("zB")];
    const p = profile(tableFromArrays({ city: column })).columns[0]!;
    expect(p).toMatchObject({ valuesComplete: false, distinct: MAX_TRACKED_VALUES + 1, count: 11_000 });
    const [a, b] = p.values;
    // Each count is a lower bound within n / 1,000 of the true one.
    expect(a!.value).toBe("zA");
    expect(a!.count).toBeLessThanOrEqual(5_000);
    expect(a!.count).toBeGreaterThanOrEqual(5_000 - 11);
    expect(b!.value).toBe("zB");
    expect(b!.count).toBeGreaterThanOrEqual(3_000 - 11);
    expect(p.values.reduce((s, v) => s + v.count, 0)).toBeLessThanOrEqual(11_000);
    // A target of the same rows in another order compares alike: not drifted.
    const shuffled = [...column].sort((x, y) => (x.length - y.length) || (x < y ? 1 : -1));
    const report = compareProfiles(profile(tableFromArrays({ city: column })), profile(tableFromArrays({ city: shuffled })));
    expect(report.columns[0]!.drifted).toBe(false);
  });

  it("compares columns of many values on those the baseline counted", () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => `id${i}`);
    const report = compareProfiles(profile(tableFromArrays({ id: ids })), profile(tableFromArrays({ id: ids })));
    expect(report.columns[0]).toMatchObject({ drifted: false, newValues: [], note: `compared on the ${MAX_TRACKED_VALUES} values the baseline counted; it has more` });
  });
});

describe("p-values", () => {
  it("Kolmogorov's distribution at its critical values", () => {
    const big = 1e12; // the small-sample correction vanishes
    const at = (lambda: number) => ksPValue(lambda / Math.sqrt(big / 2), big, big);
    expect(at(1.2238)).toBeCloseTo(0.1, 3);
    expect(at(1.3581)).toBeCloseTo(0.05, 3);
    expect(at(1.6276)).toBeCloseTo(0.01, 3);
    expect(at(0.1)).toBe(1);
  });

  it("chi-squared survival: closed forms and table values", () => {
    for (const x of [0.1, 1, 5, 20]) expect(chiSquaredPValue(x, 2)).toBeCloseTo(Math.exp(-x / 2), 10);
    expect(chiSquaredPValue(3.841458820694124, 1)).toBeCloseTo(0.05, 8);
    expect(chiSquaredPValue(11.070497693516351, 5)).toBeCloseTo(0.05, 8);
    expect(chiSquaredPValue(63.690739751564, 40)).toBeCloseTo(0.01, 6);
    expect(chiSquaredPValue(0, 3)).toBe(1);
  });
});
