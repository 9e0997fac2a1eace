import { failedPrecondition, invalidArgument, KilnError, printable } from "@kiln/core";
import { compileFilter, FilterSyntaxError, parseFilter, schemaFromIpc, thresholdProblem } from "@kiln/data";
import { create } from "@bufbuild/protobuf";
import { ExplainerSchema, JobKind, type Explainer, type JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { PRODUCES_RESULTS } from "./results.js";
import { explainerParams, SCORE_METRICS } from "@kiln/contracts";
import { DatasetKind, type DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";

/**
 * What a job reads of a dataset version, checked at submit as the store checks a read:
 * a table, the columns it names, a filter that parses and compares its columns rightly.
 * A typo is then an error at once, with nothing queued, rather than a failed job later.
 */
export function checkInput(version: DatasetVersion, input: JobInput, what: string, shown = input.dataset, keep: string[] = []): void {
  if (version.kind !== DatasetKind.TABLE) {
    throw failedPrecondition("NOT_A_TABLE", `job.${what}: ${shown} is a ${DatasetKind[version.kind].toLowerCase()} dataset; jobs read tables (put tensors as tables of columns)`, { dataset: input.dataset });
  }
  const known = version.fields.map((f) => f.name);
  const named = (field: string, columns: string[]) => {
    const missing = columns.filter((c) => !known.includes(c));
    if (missing.length) {
      throw invalidArgument("UNKNOWN_COLUMN", `${field}: ${shown} has no column ${missing.map((c) => `"${c}"`).join(", ")} (it has ${known.join(", ")})`, { dataset: input.dataset });
    }
  };
  named(`job.${what}.columns`, input.columns);
  named("job.keep_columns", keep);
  if (!input.filter) return;
  try {
    compileFilter(parseFilter(input.filter), schemaFromIpc(version.arrowSchema));
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_FILTER", `job.${what}.filter: ${e.message}`, { dataset: input.dataset, position: String(e.position) });
    throw e;
  }
}

/** job.keep_columns: only for jobs with result rows, each column named once. */
export function checkKeepColumns(kind: JobKind, keep: string[]): string[] {
  if (keep.length === 0) return [];
  if (!PRODUCES_RESULTS.has(kind)) {
    throw invalidArgument("INVALID_KEEP_COLUMNS", `job.keep_columns: a ${JobKind[kind]} job has no result rows to keep columns in (PREDICT, PREDICT_PROBA, TRANSFORM and EXPLAIN have)`);
  }
  const seen = new Set<string>();
  for (const name of keep) {
    if (!name) throw invalidArgument("INVALID_KEEP_COLUMNS", "job.keep_columns: a column name is empty");
    if (seen.has(name)) throw invalidArgument("INVALID_KEEP_COLUMNS", `job.keep_columns: "${printable(name)}" is named twice`);
    seen.add(name);
  }
  return keep;
}

/** A DRIFT job's params: thresholds as CompareDatasets takes them, fail_on_drift true or false. */
export function checkDriftParams(params: Record<string, unknown>): void {
  for (const key of ["psi_threshold", "p_value_threshold"]) {
    if (params[key] !== undefined && typeof params[key] !== "number") throw invalidArgument("INVALID_PARAMS", `params.${key} is a number, not ${printable(JSON.stringify(params[key]))}`);
  }
  const problem = thresholdProblem({ psiThreshold: params.psi_threshold as number | undefined, pValueThreshold: params.p_value_threshold as number | undefined });
  if (problem) throw invalidArgument("INVALID_PARAMS", `params.${problem}`);
  if (params.fail_on_drift !== undefined && typeof params.fail_on_drift !== "boolean") {
    throw invalidArgument("INVALID_PARAMS", `params.fail_on_drift is true or false, not ${printable(JSON.stringify(params.fail_on_drift))}`);
  }
}

/** Bounds of an EXPLAIN job's params (see JOB_KIND_EXPLAIN). */
export const EXPLAIN_LIMITS = { backgroundRows: 1000, permutations: 1000 };
const EXPLAIN_METHODS = ["auto", "exact", "permutation", "tree"];

/** An EXPLAIN job's params: whole numbers in their ranges, a known method, a class as text or a number. */
export function checkExplainParams(params: Record<string, unknown>): void {
  const whole = (key: string, min: number, max: number) => {
    const v = params[key];
    if (v !== undefined && !(typeof v === "number" && Number.isInteger(v) && v >= min && v <= max)) {
      throw invalidArgument("INVALID_PARAMS", `params.${key} is a whole number from ${min} to ${max}, not ${printable(JSON.stringify(v))}`);
    }
  };
  whole("background_rows", 1, EXPLAIN_LIMITS.backgroundRows);
  whole("permutations", 1, EXPLAIN_LIMITS.permutations);
  whole("random_state", 0, 2 ** 32 - 1);
  if (params.method !== undefined && !EXPLAIN_METHODS.includes(params.method as string)) {
    throw invalidArgument("INVALID_PARAMS", `params.method is ${EXPLAIN_METHODS.map((m) => `"${m}"`).join(", ")}, not ${printable(JSON.stringify(params.method))}`);
  }
  if (params.class !== undefined && typeof params.class !== "string" && typeof params.class !== "number") {
    throw invalidArgument("INVALID_PARAMS", `params.class is a class label (text or a number), not ${printable(JSON.stringify(params.class))}`);
  }
}

/** A SCORE job's params.metrics: "all", or metrics by name (see SCORE_METRICS), each once. */
export function checkScoreParams(params: Record<string, unknown>): void {
  const m = params.metrics;
  if (m === undefined || m === "all") return;
  const names = Array.isArray(m) ? m : undefined;
  if (!names?.length || names.some((n) => typeof n !== "string")) {
    throw invalidArgument("INVALID_PARAMS", `params.metrics is "all" or a list of metric names, not ${printable(JSON.stringify(m))}`);
  }
  const unknown = names.find((n) => !SCORE_METRICS.includes(n as string));
  if (unknown !== undefined) throw invalidArgument("INVALID_PARAMS", `params.metrics: "${printable(String(unknown))}" is not a metric (${SCORE_METRICS.join(", ")}, or "all")`);
  if (new Set(names).size !== names.length) throw invalidArgument("INVALID_PARAMS", "params.metrics names a metric twice");
}

/** A dataset named "name" or "name@3" of the caller's project, as an explanation's background. */
export function isDatasetRef(value: unknown): value is string {
  return typeof value === "string" && /^[^@/]+(@[1-9]\d*)?$/.test(value);
}

/** A deployment's explainer, checked as an online explanation's params are; none when it sets nothing. */
export function checkedExplainer(given: Explainer | undefined): Explainer | undefined {
  const { background, ...rest } = explainerParams(given);
  if (background === undefined && Object.keys(rest).length === 0) return undefined;
  if (background !== undefined && !isDatasetRef(background)) {
    throw invalidArgument("INVALID_EXPLAINER", `explainer.background is a dataset of the deployment's project, "name" or "name@3", not ${printable(JSON.stringify(background))}`);
  }
  try {
    checkExplainParams(rest);
  } catch (e) {
    if (!(e instanceof KilnError)) throw e;
    throw invalidArgument("INVALID_EXPLAINER", e.message.replace(/^params\./, "explainer."));
  }
  return create(ExplainerSchema, given);
}
