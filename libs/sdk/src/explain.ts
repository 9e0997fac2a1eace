import type { Table } from "apache-arrow";
import type { JobExplanation } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { selectionFromProto, type DatasetSelectionInfo } from "./drift.js";

export type ExplainMethod = "auto" | "exact" | "permutation" | "tree";

/** How an EXPLAIN job works out its Shapley values (see the proto's JOB_KIND_EXPLAIN). */
export interface ExplainOptions {
  /** Rows sampled from the background (1–1000, default 100). */
  backgroundRows?: number;
  /**
   * "exact" (every coalition of features, at most 16), "permutation" (sampled orderings),
   * "tree" (Tree SHAP: exact for any number of features, for tree ensembles; a boosted
   * classifier's margin, its log-odds), or "auto" (the default: tree where it explains the
   * output itself, else exact while it costs no more).
   */
  method?: ExplainMethod;
  /** Orderings of the features sampled for each row, each walked both ways (default 10). */
  permutations?: number;
  /** Seeds the background's sample and the orderings (default 0). */
  randomState?: number;
  /** A classifier: explain this class's probability on every row, rather than each row's predicted class. */
  class?: string | number;
}

/** An EXPLAIN job's params, as the executor reads them. */
export function explainParams(options: ExplainOptions): Record<string, string | number> {
  return {
    ...(options.backgroundRows !== undefined && { background_rows: options.backgroundRows }),
    ...(options.method !== undefined && { method: options.method }),
    ...(options.permutations !== undefined && { permutations: options.permutations }),
    ...(options.randomState !== undefined && { random_state: options.randomState }),
    ...(options.class !== undefined && { class: options.class }),
  };
}

export interface FeatureImportanceInfo {
  feature: string;
  /** Mean |Shapley value| over the rows: how much the feature moves the output. */
  meanAbs: number;
  /** Mean Shapley value: which way. */
  mean: number;
}

export interface ExplainedOutputInfo {
  /** "prediction", or a class label. */
  output: string;
  /** The output's mean over the background, where each row's values start. */
  baseValue: number;
  /** Rows whose explanation is of this output. */
  rows: number;
  /** Largest meanAbs first. */
  features: FeatureImportanceInfo[];
}

/** An EXPLAIN job's summary. */
export interface JobExplanationInfo {
  method: string;
  /** Orderings a row, for the permutation method (0 for exact). */
  permutations: number;
  /** Where the background rows came from, and how many were sampled. */
  background: DatasetSelectionInfo;
  backgroundRows: number;
  outputs: ExplainedOutputInfo[];
  /** What base values and values add up to: "output" (the prediction or probability), or "margin" (Tree SHAP of a boosted classifier: its log-odds; rows then carry `margin`). */
  outputSpace: "output" | "margin";
}

/** What an EXPLAIN job's `get()` gives: each row's values (`rows`: the outputs, base_value, shap_<feature>) and the summary. */
export interface Explanation extends JobExplanationInfo {
  rows: Table;
}

/** "exact: every coalition of features", "tree: Tree SHAP of the margins (log-odds)"...: how the values were found, for people. */
export function explanationMethodText(e: Pick<JobExplanationInfo, "method" | "permutations" | "outputSpace">): string {
  const how =
    e.method === "permutation"
      ? `${e.permutations} orderings a row, each both ways`
      : e.method === "tree"
        ? `Tree SHAP${e.outputSpace === "margin" ? " of the margins (log-odds), which the base value and values add up to" : ""}`
        : "every coalition of features";
  return `${e.method}: ${how}`;
}

export function jobExplanationInfo(e: JobExplanation): JobExplanationInfo {
  return {
    method: e.method,
    permutations: e.permutations,
    background: selectionFromProto(e.background),
    backgroundRows: Number(e.backgroundRows),
    outputSpace: e.outputSpace === "margin" ? "margin" : "output",
    outputs: e.outputs.map((o) => ({ output: o.output, baseValue: o.baseValue, rows: Number(o.rows), features: o.features.map((f) => ({ feature: f.feature, meanAbs: f.meanAbs, mean: f.mean })) })),
  };
}
