import { create, type JsonObject } from "@bufbuild/protobuf";
import { Table, vectorFromArray, type RecordBatch, type Vector } from "apache-arrow";
import { parseDatasetRef, type ModelVersionInfo } from "@kiln/sdk";
import { featuresIn } from "@kiln/contracts";
import { JobInputSchema, JobKind, type JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { backgroundColumns, sampleBackground, trainingData, type Background } from "./background.js";
import { featureRows, matrixInput, type MatrixInput } from "./feature-matrix.js";
import { checkExplainable, explainParams, ModelExplainer, type ExplainParams } from "./model-explainer.js";
import type { ExecutorDeps } from "./deps.js";
import { planFeatures, type FeaturePlan } from "./features.js";
import { featuresFor, transformsOnly } from "./inference.js";
import { failedPrecondition } from "./job-failure.js";
import { checkNoMissingValues, refusesMissingValues } from "./missing-values.js";
import { runOnnx } from "./onnx-run.js";
import { outputTable, pickOutput } from "./outputs.js";
import { runnableOutput, type RunnableOutput } from "./runnable-output.js";

/** Explainers, and background samples, a served version keeps (of each). */
const KEPT_EXPLAINERS = 8;

/**
 * A model version loaded to answer online requests: its file in the model cache, and per
 * kind of request and shape of rows what to run (worked out once, then reused).
 */
export class OnlineModel {
  private readonly outputs = new Map<JobKind, Promise<RunnableOutput>>();
  private readonly plans = new Map<string, FeaturePlan>();
  /** Explainers by their params and features, and the background samples they use (the newest few of each kept). */
  private readonly explainers = new Map<string, Promise<ModelExplainer>>();
  private readonly backgrounds = new Map<string, Promise<Background>>();
  /** Models pinned in the worker pool (a graph per output kind may differ), unpinned by close(). */
  private readonly pinned = new Set<string>();
  private closed = false;

  private constructor(
    private readonly deps: ExecutorDeps,
    readonly version: ModelVersionInfo,
  ) {}

  /** Fetches the version and its file, and runs it once so the first request finds a session ready. */
  static async load(deps: ExecutorDeps, name: string): Promise<OnlineModel> {
    const version = await deps.models.version(name);
    await deps.models.file(version);
    const model = new OnlineModel(deps, version);
    await model.warm();
    return model;
  }

  /**
   * Checks that rows of this shape can be run as `kind`, and names the batch they may join:
   * requests of one kind whose columns and types are the same run together. Columns kept
   * (copied into the answer) are not features, unless the model learned from them by name;
   * positional columns are the features in order, whatever the names the model learned.
   */
  async prepare(kind: JobKind, table: Table, keep: string[], positional: boolean): Promise<string> {
    const key = `${kind}\n${positional ? "*" : keep.join(",")}\n${table.schema.fields.map((f) => `${f.name}:${String(f.type)}`).join("\n")}`;
    if (!this.plans.has(key)) {
      if (kind === JobKind.PREDICT && transformsOnly(this.version)) {
        throw failedPrecondition("NOT_A_PREDICTOR", `${this.version.name} (${String(this.version.metadata.estimator)}) only transforms: it has nothing to predict; ask for TRANSFORM`);
      }
      await this.output(kind);
      const columns = table.schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));
      const named = positional ? undefined : featuresFor(this.version, columns);
      const features = named ?? columns.map((c) => c.name).filter((name) => !keep.includes(name));
      this.plans.set(key, planFeatures(this.version.signature?.inputs ?? [], columns, features));
    }
    return key;
  }

  /** The request columns rows of shape `key` give the model, named as it learned them (as they are, where it learned no names). */
  loggedFeatures(key: string): { name: string; column: string }[] {
    return this.logged(this.plans.get(key)!.columns);
  }

  /** The request's columns that fed the model, named as it learned them (as they are, when it learned no names). */
  private logged(columns: string[]): { name: string; column: string }[] {
    const learned = featuresIn(this.version.metadata);
    const names = learned?.length === columns.length ? learned : columns;
    return columns.map((column, i) => ({ name: names[i]!, column }));
  }

  /** The model's outputs for the rows of `tables` (all of the shape `key` names), one table each. */
  async run(key: string, tables: Table[]): Promise<Table[]> {
    const kind = Number(key.slice(0, key.indexOf("\n"))) as JobKind;
    const plan = this.plans.get(key)!;
    const batch = oneBatch(tables);
    if (refusesMissingValues(this.version)) checkNoMissingValues(batch, plan.columns, 0, String(this.version.metadata.estimator ?? "the model"));
    const { file, key: modelKey, output, classes } = await this.output(kind);
    const outputs = await runOnnx(this.deps, file, modelKey, plan.feeds(batch), [output]);
    const all = outputTable(kind, outputs[output]!, classes);
    let at = 0;
    return tables.map((t) => {
      const part = all.slice(at, at + t.numRows);
      at += t.numRows;
      return part;
    });
  }

  /**
   * The rows' Shapley values (an EXPLAIN job's result rows) against a background sampled,
   * on the first request with these params (or beforehand, see prepareBackground), from the
   * data the version was trained on or from `params.background`, and kept for the next ones.
   */
  /** The rows' explanations, and the request's columns that fed the model (for the request log). */
  async explain(table: Table, keep: string[], positional: boolean, given: JsonObject): Promise<{ table: Table; features: { name: string; column: string }[] }> {
    const params = explainParams(given);
    checkExplainable(this.version);
    const columns = table.schema.fields.map((f) => ({ name: f.name, type: String(f.type) }));
    const named = positional ? undefined : featuresFor(this.version, columns);
    const input = matrixInput(this.version, columns, named ?? columns.map((c) => c.name).filter((name) => !keep.includes(name)), "NOT_EXPLAINABLE", "an explanation mixes rows' features");
    const batch = oneBatch([table]);
    if (refusesMissingValues(this.version)) checkNoMissingValues(batch, input.features, 0, String(this.version.metadata.estimator ?? "the model"));
    const explainer = await this.explainer(input, params, positional);
    return { table: (await explainer.explain(featureRows(input, batch), batch.numRows)).table, features: this.logged(input.features) };
  }

  /** Samples the background explanations with these params will use before any request asks (see background). */
  async prepareBackground(given: JsonObject): Promise<void> {
    await this.background(explainParams(given));
  }

  private explainer(input: MatrixInput, params: ExplainParams, positional: boolean): Promise<ModelExplainer> {
    // The background is read by the names the model learned; a positional request to a model that learned none takes its columns in order.
    const learned = featuresIn(this.version.metadata);
    const names = learned?.length === input.features.length ? learned : positional ? undefined : input.features;
    // The request's feature names name its shap_ columns.
    return kept(this.explainers, JSON.stringify([params, names ?? null, input.features, input.type]), async () => {
      const background = await this.background(params);
      return ModelExplainer.create(this.deps, this.version, input, backgroundColumns(background, names, input.features.length, this.version), params);
    });
  }

  /** The sample explanations with these params use: of the features the model learned, or (it learned none) of all the background's numeric columns. */
  private background(params: ExplainParams): Promise<Background> {
    const { background, backgroundRows, randomState } = params;
    return kept(this.backgrounds, JSON.stringify([background ?? null, backgroundRows, randomState]), async () => {
      const project = this.version.name.slice(0, this.version.name.indexOf("/models/"));
      const source = background ? await backgroundInput(this.deps, project, background) : await trainingData(this.deps, project, this.version);
      return sampleBackground(this.deps, source, this.version, featuresIn(this.version.metadata), backgroundRows, randomState);
    });
  }

  /** Lets the model's sessions go: the deployment no longer serves this version here. */
  close(): void {
    this.closed = true;
    for (const key of this.pinned) this.deps.onnx.unpin(key);
    this.pinned.clear();
  }

  /** What to run for a kind; its graph is pinned in the worker pool so jobs running other models never unload it. */
  private output(kind: JobKind): Promise<RunnableOutput> {
    let found = this.outputs.get(kind);
    if (!found) {
      found = runnableOutput(this.deps, this.version, pickOutput(kind, this.version.signature?.outputs ?? [])).then((out) => {
        if (!this.closed && !this.pinned.has(out.key)) {
          this.deps.onnx.pin(out.key, out.file);
          this.pinned.add(out.key);
        }
        return out;
      });
      this.outputs.set(kind, found);
      found.catch(() => this.outputs.delete(kind));
    }
    return found;
  }

  /** A row of zeros through a model with one float matrix input of known width; other models load on their first request. */
  private async warm(): Promise<void> {
    const inputs = this.version.signature?.inputs ?? [];
    const width = inputs[0]?.shape?.[1];
    if (inputs.length !== 1 || typeof width !== "number" || !/^float(32)?$|^double$|^float64$/.test(inputs[0]!.elementType)) return;
    const type = inputs[0]!.elementType === "float32" || inputs[0]!.elementType === "float" ? "float32" : "float64";
    const data = type === "float32" ? new Float32Array(width) : new Float64Array(width);
    const { file, key, output } = await this.output(JobKind.PREDICT).catch(() => this.output(JobKind.TRANSFORM));
    await runOnnx(this.deps, file, key, { [inputs[0]!.name]: { type, dims: [1, width], data } as never }, [output]).catch(() => {});
  }
}

/** What `make` gives for `key`, made once and kept (a failure is not), the oldest of more than KEPT dropped. */
function kept<T>(cache: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let found = cache.get(key);
  if (!found) {
    found = make();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
    while (cache.size > KEPT_EXPLAINERS) cache.delete(cache.keys().next().value!);
  }
  return found;
}

/** A dataset named "name" or "name@3" in the project, its latest version when none is given. */
async function backgroundInput(deps: ExecutorDeps, project: string, ref: string): Promise<JobInput> {
  const { dataset, version } = parseDatasetRef(ref);
  const name = `${project}/datasets/${dataset}`;
  const found = await deps.store.getDatasetVersion({ name: `${name}/versions/${version ?? "latest"}` });
  return create(JobInputSchema, { dataset: name, version: found.version!.version });
}

/** The rows of several tables of one schema as one record batch (the common case, one table of one batch, as it is). */
function oneBatch(tables: Table[]): RecordBatch {
  if (tables.length === 1 && tables[0]!.batches.length === 1) return tables[0]!.batches[0]!;
  const fields = tables[0]!.schema.fields;
  const columns: Record<string, Vector> = {};
  for (const field of fields) {
    const values: unknown[] = [];
    for (const table of tables) for (const v of table.getChild(field.name)!) values.push(v);
    columns[field.name] = vectorFromArray(values, field.type);
  }
  // Vectors built from values are one chunk each, so their table is one batch.
  const [batch, ...more] = new Table(columns).batches;
  if (!batch || more.length) throw new Error(`${tables.length} tables of rows made ${more.length + (batch ? 1 : 0)} batches, not one`);
  return batch;
}
