import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ColumnDriftData, ColumnKindName, ColumnProfileData } from "@kiln/data";
import { ColumnKind, type ColumnDrift, type CompareDatasetsResponse, type DatasetProfile as DatasetProfileMessage, type DatasetSelection } from "@kiln/proto/kiln/store/v1/store_pb";
import { shortName } from "./names.js";

export type { ColumnProfileData as ColumnProfile, ColumnDriftData as ColumnDrift, DriftOptions } from "@kiln/data";

/** Rows of a table as a profile or a comparison names them. */
export interface DatasetSelectionInfo {
  /** The dataset's name, e.g. "customers". */
  dataset: string;
  version: number;
  columns: string[];
  filter: string;
}

/** A table's profile (omega-ml's drift snapshot): what was profiled, and each column's counts, moments, percentiles and values. */
export interface DatasetProfile {
  selection: DatasetSelectionInfo;
  rows: number;
  columns: ColumnProfileData[];
  createTime: Date;
}

/** A target's columns compared with a baseline's. */
export interface DriftReport {
  baseline: DatasetProfile;
  target: DatasetProfile;
  columns: ColumnDriftData[];
  /** The baseline's columns the target lacks (they count as drift), and the target's the baseline lacks. */
  missingColumns: string[];
  newColumns: string[];
  driftedCount: number;
  drifted: boolean;
}

const KIND_NAMES: Record<ColumnKind, ColumnKindName | undefined> = {
  [ColumnKind.UNSPECIFIED]: undefined,
  [ColumnKind.NUMERIC]: "numeric",
  [ColumnKind.CATEGORICAL]: "categorical",
  [ColumnKind.OTHER]: "other",
};

const kindName = (k: ColumnKind): ColumnKindName => KIND_NAMES[k] ?? "other";

/** What a profile is of, as people read it: "customers@3 where region = \"EU\"" (a local file's profile, version 0, by its path alone). */
export function selectionText(of: DatasetProfile | DatasetSelectionInfo): string {
  const s = "selection" in of ? of.selection : of;
  return `${s.dataset}${s.version ? `@${s.version}` : ""}${s.filter ? ` where ${s.filter}` : ""}`;
}

/**
 * A drift check's figures as metrics, as runs and DRIFT jobs keep them: each column's PSI and
 * p-value (`drift.psi.age`, `drift.p_value.age`; a column no test applies to has no p-value),
 * the count of drifted columns and `drift.drifted` (1 or 0).
 */
export function driftMetrics(report: { columns: readonly { column: string; psi: number; test: string; pValue: number }[]; driftedCount: number; drifted: boolean }): Record<string, number> {
  const metrics: Record<string, number> = {};
  for (const c of report.columns) {
    metrics[`drift.psi.${c.column}`] = c.psi;
    if (c.test) metrics[`drift.p_value.${c.column}`] = c.pValue;
  }
  metrics["drift.drifted_columns"] = report.driftedCount;
  metrics["drift.drifted"] = report.drifted ? 1 : 0;
  return metrics;
}

export function selectionFromProto(s: DatasetSelection | undefined): DatasetSelectionInfo {
  return { dataset: shortName(s?.name ?? ""), version: Number(s?.version ?? 0), columns: s?.columns ?? [], filter: s?.filter ?? "" };
}

export function profileFromProto(p: DatasetProfileMessage): DatasetProfile {
  return {
    selection: selectionFromProto(p.selection),
    rows: Number(p.rows),
    createTime: p.createTime ? timestampDate(p.createTime) : new Date(0),
    columns: p.columns.map((c) => ({
      name: c.name,
      type: c.type,
      kind: kindName(c.kind),
      count: Number(c.count),
      nulls: Number(c.nulls),
      min: c.min,
      max: c.max,
      mean: c.mean,
      std: c.std,
      percentiles: c.percentiles,
      sampled: Number(c.sampled),
      values: c.values.map((v) => ({ value: v.value, count: Number(v.count) })),
      valuesComplete: c.valuesComplete,
      distinct: Number(c.distinct),
    })),
  };
}

export function columnDriftFromProto(c: ColumnDrift): ColumnDriftData {
  return {
    column: c.column,
    kind: kindName(c.kind),
    psi: c.psi,
    test: c.test === "ks" || c.test === "chi2" ? c.test : "",
    statistic: c.statistic,
    pValue: c.pValue,
    meanShift: c.meanShift,
    missingShareChange: c.missingShareChange,
    newValues: c.newValues,
    drifted: c.drifted,
    note: c.note,
  };
}

export function driftFromProto(r: CompareDatasetsResponse): DriftReport {
  return {
    baseline: profileFromProto(r.baseline!),
    target: profileFromProto(r.target!),
    columns: r.columns.map(columnDriftFromProto),
    missingColumns: r.missingColumns,
    newColumns: r.newColumns,
    driftedCount: r.driftedCount,
    drifted: r.drifted,
  };
}
