import { breakpointsOf, cdfOf } from "./cdf.js";
import { chiSquaredPValue, ksPValue } from "./distributions.js";
import type { ColumnKindName, ColumnProfileData, TableProfileData } from "./types.js";

export interface DriftOptions {
  /** A column drifted when its PSI is at least this (default 0.2). */
  psiThreshold?: number;
  /** If above 0, a column also drifted when its test's p-value is below this. */
  pValueThreshold?: number;
}

export interface ColumnDriftData {
  column: string;
  kind: ColumnKindName;
  psi: number;
  test: "ks" | "chi2" | "";
  statistic: number;
  pValue: number;
  meanShift: number;
  missingShareChange: number;
  newValues: string[];
  drifted: boolean;
  note: string;
}

export interface DriftReportData {
  columns: ColumnDriftData[];
  missingColumns: string[];
  newColumns: string[];
  driftedCount: number;
  drifted: boolean;
}

export const DEFAULT_PSI_THRESHOLD = 0.2;
/** Shares below this count as this in the PSI, so a bin one side lacks weighs, without dividing by 0. */
const PSI_FLOOR = 1e-4;
const MAX_NEW_VALUES = 20;
/** The baseline's deciles bin numbers for the PSI. */
const PSI_EDGES = [10, 20, 30, 40, 50, 60, 70, 80, 90];

/** What is wrong with drift thresholds, if anything: PSI ≥ 0 (0 takes the default), a p-value in [0, 1) (0: no test). */
export function thresholdProblem(options: DriftOptions): string | undefined {
  const { psiThreshold = 0, pValueThreshold = 0 } = options;
  if (!(psiThreshold >= 0) || !Number.isFinite(psiThreshold)) return `psi_threshold must be a number ≥ 0 (0 takes ${DEFAULT_PSI_THRESHOLD}), not ${psiThreshold}`;
  if (!(pValueThreshold >= 0 && pValueThreshold < 1)) return `p_value_threshold must be in [0, 1) (0: no test), not ${pValueThreshold}`;
  return undefined;
}

/** Compares a target's profile with a baseline's, column by column (data drift). */
export function compareProfiles(baseline: TableProfileData, target: TableProfileData, options: DriftOptions = {}): DriftReportData {
  const psiThreshold = options.psiThreshold || DEFAULT_PSI_THRESHOLD;
  const pValueThreshold = options.pValueThreshold ?? 0;
  const inTarget = new Map(target.columns.map((c) => [c.name, c]));
  const inBaseline = new Set(baseline.columns.map((c) => c.name));
  const columns: ColumnDriftData[] = [];
  for (const b of baseline.columns) {
    const t = inTarget.get(b.name);
    if (t) columns.push(compareColumn(b, t, baseline.rows, target.rows, psiThreshold, pValueThreshold));
  }
  const missingColumns = baseline.columns.filter((c) => !inTarget.has(c.name)).map((c) => c.name);
  const driftedCount = columns.filter((c) => c.drifted).length;
  return {
    columns,
    missingColumns,
    newColumns: target.columns.filter((c) => !inBaseline.has(c.name)).map((c) => c.name),
    driftedCount,
    drifted: driftedCount > 0 || missingColumns.length > 0,
  };
}

function compareColumn(b: ColumnProfileData, t: ColumnProfileData, bRows: number, tRows: number, psiThreshold: number, pValueThreshold: number): ColumnDriftData {
  const result: ColumnDriftData = {
    column: b.name,
    kind: b.kind,
    psi: 0,
    test: "",
    statistic: 0,
    pValue: 1,
    meanShift: 0,
    missingShareChange: bRows && tRows ? t.nulls / tRows - b.nulls / bRows : 0,
    newValues: [],
    drifted: false,
    note: "",
  };
  if (b.kind !== t.kind) return { ...result, drifted: true, note: `type changed from ${b.type} to ${t.type}` };
  if (bRows === 0 || tRows === 0) return { ...result, note: `not compared: the ${bRows === 0 ? "baseline" : "target"} has no rows` };
  if (b.kind === "other") return { ...result, note: `not compared: ${b.type} columns are counted only` };
  const measured = b.kind === "numeric" ? compareNumbers(b, t, bRows, tRows) : compareCategories(b, t, bRows, tRows);
  const drifted = measured.psi >= psiThreshold || (pValueThreshold > 0 && measured.test !== "" && measured.pValue < pValueThreshold);
  return { ...result, ...measured, drifted };
}

type Measured = Pick<ColumnDriftData, "psi" | "test" | "statistic" | "pValue" | "meanShift" | "newValues" | "note">;

function compareNumbers(b: ColumnProfileData, t: ColumnProfileData, bRows: number, tRows: number): Measured {
  const fb = cdfOf(b);
  const ft = cdfOf(t);
  const edges = b.count ? [...new Set(PSI_EDGES.map((p) => b.percentiles[p]!))] : [];
  const binShares = (cdf: (x: number) => number, present: number) => {
    const shares: number[] = [];
    let below = 0;
    for (const e of edges) {
      const at = cdf(e);
      shares.push((at - below) * present);
      below = at;
    }
    shares.push((1 - below) * present);
    return shares;
  };
  const bShares = [...binShares(fb, b.count / bRows), b.nulls / bRows];
  const tShares = [...binShares(ft, t.count / tRows), t.nulls / tRows];
  if (b.count === 0 || t.count === 0) {
    return { psi: psi(bShares, tShares), test: "", statistic: 0, pValue: 1, meanShift: 0, newValues: [], note: `not tested: the ${b.count === 0 ? "baseline" : "target"} has no values` };
  }
  let d = 0;
  for (const x of [...breakpointsOf(b), ...breakpointsOf(t)]) d = Math.max(d, Math.abs(fb(x) - ft(x)));
  // A CDF from a sample is as good as that sample: the test counts the values the CDFs come from.
  const n = b.valuesComplete ? b.count : b.sampled;
  const m = t.valuesComplete ? t.count : t.sampled;
  const meanShift = b.std > 0 ? (t.mean - b.mean) / b.std : t.mean === b.mean ? 0 : Math.sign(t.mean - b.mean) * Infinity;
  return { psi: psi(bShares, tShares), test: "ks", statistic: d, pValue: ksPValue(d, n, m), meanShift, newValues: [], note: "" };
}

function compareCategories(b: ColumnProfileData, t: ColumnProfileData, bRows: number, tRows: number): Measured {
  const bCounts = new Map(b.values.map((v) => [v.value, v.count]));
  const tCounts = new Map(t.values.map((v) => [v.value, v.count]));
  const keys = [...new Set([...bCounts.keys(), ...tCounts.keys()])];
  const listed = (counts: Map<string, number>) => [...counts.values()].reduce((a, n) => a + n, 0);
  // Bins: each value either lists, the values neither lists counted as one ("other"), and missing values.
  const bBins = [...keys.map((k) => bCounts.get(k) ?? 0), b.count - listed(bCounts), b.nulls];
  const tBins = [...keys.map((k) => tCounts.get(k) ?? 0), t.count - listed(tCounts), t.nulls];
  const { statistic, df } = chiSquared(bBins, tBins);
  const newValues = b.valuesComplete ? t.values.filter((v) => !bCounts.has(v.value)).slice(0, MAX_NEW_VALUES).map((v) => v.value) : [];
  return {
    psi: psi(bBins.map((n) => n / bRows), tBins.map((n) => n / tRows)),
    test: "chi2",
    statistic,
    pValue: chiSquaredPValue(statistic, df),
    meanShift: 0,
    newValues,
    note: b.valuesComplete ? "" : `compared on the ${b.values.length} values the baseline counted; it has more`,
  };
}

/** The population stability index: Σ (t - b) ln(t / b) over bins neither side leaves empty alone. */
export function psi(baseline: number[], target: number[]): number {
  let sum = 0;
  for (let i = 0; i < baseline.length; i++) {
    if (baseline[i]! <= 0 && target[i]! <= 0) continue;
    const b = Math.max(baseline[i]!, PSI_FLOOR);
    const t = Math.max(target[i]!, PSI_FLOOR);
    sum += (t - b) * Math.log(t / b);
  }
  return sum;
}

/** Pearson's chi-squared statistic of a 2×k table of counts (homogeneity), over the bins either side has. */
function chiSquared(a: number[], b: number[]): { statistic: number; df: number } {
  const totalA = a.reduce((s, n) => s + n, 0);
  const totalB = b.reduce((s, n) => s + n, 0);
  const total = totalA + totalB;
  let statistic = 0;
  let bins = 0;
  for (let i = 0; i < a.length; i++) {
    const column = a[i]! + b[i]!;
    if (column === 0) continue;
    bins++;
    const ea = (totalA * column) / total;
    const eb = (totalB * column) / total;
    statistic += (a[i]! - ea) ** 2 / ea + (b[i]! - eb) ** 2 / eb;
  }
  return { statistic, df: bins - 1 };
}
