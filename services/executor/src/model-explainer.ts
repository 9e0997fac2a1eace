import { Table, makeVector, vectorFromArray, type Vector } from "apache-arrow";
import { MAX_EXACT_FEATURES, ShapleyExplainer, type BatchModel } from "@kiln/ml";
import { NotTreeEnsembleError } from "@kiln/onnx";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersionInfo } from "@kiln/sdk";
import { isClassifier, isClusterer } from "@kiln/contracts";
import type { ExecutorDeps } from "./deps.js";
import type { MatrixInput } from "./feature-matrix.js";
import { RUNS_IN_FLIGHT, transformsOnly } from "./inference.js";
import { failedPrecondition } from "./job-failure.js";
import { refusesMissingValues } from "./missing-values.js";
import { matrixFeed, outputNumbers, runOnnx, sharedRows } from "./onnx-run.js";
import { pickOutput } from "./outputs.js";
import { runnableOutput, type RunnableOutput } from "./runnable-output.js";
import { TreeExplainer } from "./tree-explainer.js";

/** Rows in one model call at most. */
const MODEL_ROWS_PER_CALL = 65_536;
/**
 * "auto" tries Tree SHAP from this many features: on a 100-tree forest, 4 features' 14
 * coalitions cost the exact method what Tree SHAP costs, 8 features' 254 cost it 15 times
 * as much (bench/explain-trees.mjs), and fewer cost it less.
 */
const AUTO_TREE_FEATURES = 4;

export interface ExplainParams {
  backgroundRows: number;
  method: "auto" | "exact" | "permutation" | "tree";
  permutations: number;
  randomState: number;
  class?: string | number;
  /** Online only: a dataset ("name" or "name@3") to sample the background from instead of the training data. */
  background?: string;
}

/** As the scheduler checked them. */
export function explainParams(params: Record<string, unknown>): ExplainParams {
  return {
    backgroundRows: Number(params.background_rows ?? 100),
    method: (params.method as ExplainParams["method"] | undefined) ?? "auto",
    permutations: Number(params.permutations ?? 10),
    randomState: Number(params.random_state ?? 0),
    class: params.class as string | number | undefined,
    background: params.background as string | undefined,
  };
}

/** Regressors and classifiers have an output to explain; transformers and clusterers do not. */
export function checkExplainable(version: ModelVersionInfo): void {
  if (transformsOnly(version) || isClusterer(version)) {
    throw failedPrecondition("NOT_EXPLAINABLE", `${version.name} (${String(version.metadata.estimator ?? "a model")}) predicts no number or class to explain: EXPLAIN takes regressors and classifiers`);
  }
}

/** A slice of rows explained: its result rows, and their values and explained outputs for a summary. */
export interface ExplainedRows {
  table: Table;
  /** [rows, features, outputs]. */
  values: Float64Array;
  /** Each row's explained output (a regressor's 0, a classifier's class index). */
  explained: Int32Array;
}

/**
 * A model version's Shapley values against a background, on the worker pool: what an
 * EXPLAIN job and a deployment's explain request share. A regressor's prediction is
 * explained; a classifier's probability of each row's predicted class, or of `class`
 * (its margin, with method "tree" on a boosted classifier: see TreeExplainer).
 */
export class ModelExplainer {
  private constructor(
    readonly explainer: ShapleyExplainer | TreeExplainer,
    readonly features: string[],
    readonly classifier: boolean,
    /** The outputs' names: "prediction", or the class labels. */
    readonly labels: string[],
    readonly base: Float64Array,
    /** The class every row is explained by, if one was asked. */
    readonly fixed: number | undefined,
  ) {}

  /** What base and values add up to: the outputs, or (Tree SHAP through a sigmoid or softmax) their margins. */
  get space(): "output" | "margin" {
    return this.explainer instanceof TreeExplainer ? this.explainer.space : "output";
  }

  /** `signal` stops a job's explanation between model calls (cancel, timeout). */
  static async create(deps: ExecutorDeps, version: ModelVersionInfo, input: MatrixInput, background: Float64Array, params: ExplainParams, signal?: AbortSignal): Promise<ModelExplainer> {
    checkExplainable(version);
    if (params.method === "exact" && input.features.length > MAX_EXACT_FEATURES) {
      throw failedPrecondition("TOO_MANY_FEATURES", `exact Shapley values take at most ${MAX_EXACT_FEATURES} features (2^${MAX_EXACT_FEATURES} coalitions a row) and ${version.name} has ${input.features.length}: use method "permutation"`);
    }
    const classifier = isClassifier(version);
    if (params.class !== undefined && !classifier) throw failedPrecondition("NOT_A_CLASSIFIER", `params.class: ${version.name} predicts numbers, not classes`);
    const runnable = await runnableOutput(deps, version, pickOutput(classifier ? JobKind.PREDICT_PROBA : JobKind.PREDICT, version.signature?.outputs ?? []));
    if (refusesMissingValues(version)) checkFinite(background, input.features, "the background");
    const model = modelOf(deps, input, runnable);
    const triesTree = params.method === "tree" || (params.method === "auto" && input.features.length >= AUTO_TREE_FEATURES);
    const tree = triesTree ? await treeExplainer(deps, version, runnable, input, background, model, params.method as "auto" | "tree") : undefined;
    const explainer =
      tree ??
      new ShapleyExplainer(model, background, input.features.length, {
        method: params.method as "auto" | "exact" | "permutation", // "tree" took TreeExplainer or threw
        permutations: params.permutations,
        randomState: params.randomState,
        maxBatchRows: MODEL_ROWS_PER_CALL,
        concurrency: RUNS_IN_FLIGHT,
        allocate: (length) => sharedRows(input.type, length),
        signal,
      });
    const base = explainer instanceof TreeExplainer ? explainer.base : await explainer.base();
    const labels = classifier ? classLabels(runnable, base.length) : ["prediction"];
    const fixed = params.class === undefined ? undefined : classIndex(labels, params.class, version);
    return new ModelExplainer(explainer, input.features, classifier, labels, base, fixed);
  }

  /** `count` rows ([count, features], row-major); `firstRow` is the first one's place in the input (it seeds the orderings). */
  async explain(rows: Float64Array, count: number, firstRow = 0): Promise<ExplainedRows> {
    const explanation = await this.explainer.explain(rows, count, firstRow);
    const { values, outputs } = explanation;
    const k = this.base.length;
    const explained = Int32Array.from({ length: count }, (_, i) => this.fixed ?? (this.classifier ? argmax(outputs.subarray(i * k, (i + 1) * k)) : 0));
    const margins = this.space === "margin" ? (explanation as { margins?: Float64Array }).margins : undefined;
    return { table: this.rowsTable(values, outputs, explained, margins), values, explained };
  }

  /**
   * Result rows: the explained output (a regressor's `prediction`; a classifier's `class` and
   * its `probability`), its `margin` when that is what is explained, `base_value`, then
   * `shap_<feature>` for each feature.
   */
  private rowsTable(values: Float64Array, outputs: Float64Array, explained: Int32Array, margins?: Float64Array): Table {
    const n = explained.length;
    const k = this.base.length;
    const m = this.features.length;
    const pick = (f: (i: number, o: number) => number) => {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = f(i, explained[i]!);
      return makeVector(out);
    };
    const columns: Record<string, Vector> = {};
    if (this.classifier) {
      const numeric = this.labels.every((l) => l !== "" && Number.isFinite(Number(l)));
      const named = Array.from(explained, (o) => this.labels[o]!);
      columns.class = numeric ? makeVector(Float64Array.from(named, Number)) : vectorFromArray(named);
      columns.probability = pick((i, o) => outputs[i * k + o]!);
    } else {
      columns.prediction = pick((i, o) => outputs[i * k + o]!);
    }
    if (margins) columns.margin = pick((i, o) => margins[i * k + o]!);
    columns.base_value = pick((_, o) => this.base[o]!);
    this.features.forEach((feature, j) => (columns[`shap_${feature}`] = pick((i, o) => values[(i * m + j) * k + o]!)));
    return new Table(columns);
  }
}

/**
 * Tree SHAP for `method` "tree", or "auto" where it explains the outputs themselves (a
 * margin is explained only when asked for); undefined where "auto" takes ShapleyExplainer.
 */
async function treeExplainer(deps: ExecutorDeps, version: ModelVersionInfo, runnable: RunnableOutput, input: MatrixInput, background: Float64Array, model: BatchModel, method: "auto" | "tree"): Promise<TreeExplainer | undefined> {
  try {
    return await TreeExplainer.create(deps, version, runnable, input, background, model, method === "tree");
  } catch (e) {
    if (!(e instanceof NotTreeEnsembleError)) throw e;
    if (method === "auto") return undefined;
    throw failedPrecondition("NOT_A_TREE_ENSEMBLE", `method "tree" explains tree ensembles, and ${version.name}'s output "${runnable.output}" is not one: ${e.message}. Use "exact" or "permutation"`);
  }
}

/** The model in the worker pool as the explainer asks it: float64 rows in, its outputs as float64 out. */
function modelOf(deps: ExecutorDeps, input: MatrixInput, runnable: RunnableOutput): BatchModel {
  return async (rows, count) => {
    const out = (await runOnnx(deps, runnable.file, runnable.key, { [input.name]: matrixFeed(input, rows, count) }, [runnable.output]))[runnable.output]!;
    const numbers = outputNumbers(out);
    if (!numbers) throw failedPrecondition("NOT_EXPLAINABLE", `the model's output "${runnable.output}" is ${out.type}, not numbers to explain`);
    return numbers;
  };
}

/** A classifier's outputs are its classes' probabilities, named by its labels (else by position). */
function classLabels(runnable: RunnableOutput, width: number): string[] {
  const classes = runnable.classes?.length === width ? runnable.classes : undefined;
  return Array.from({ length: width }, (_, j) => String(classes?.[j] ?? j));
}

function classIndex(labels: string[], wanted: string | number, version: ModelVersionInfo): number {
  const at = labels.indexOf(String(wanted));
  if (at < 0) throw failedPrecondition("UNKNOWN_CLASS", `params.class: ${version.name} has no class ${JSON.stringify(wanted)} (its classes: ${labels.join(", ")})`);
  return at;
}

function argmax(values: Float64Array): number {
  let best = 0;
  for (let j = 1; j < values.length; j++) if (values[j]! > values[best]!) best = j;
  return best;
}

function checkFinite(matrix: Float64Array, features: string[], what: string): void {
  const at = matrix.findIndex((v) => !Number.isFinite(v));
  if (at < 0) return;
  throw failedPrecondition("NON_FINITE_INPUT", `${what} has ${matrix[at]} in column "${features[at % features.length]}": the model takes no missing values; name a background without them`);
}
