import type { BatchModel } from "@kiln/ml";
import { asFloat32Values, NotTreeEnsembleError, OnnxFormatError, OnnxRunError, treeBase, treeColumns, treeOutputs, treeOutputSpace, treeSums, type TreeReading } from "@kiln/onnx";
import type { ExecutorDeps } from "./deps.js";
import type { MatrixInput } from "./feature-matrix.js";
import { RUNS_IN_FLIGHT } from "./inference.js";
import type { RunnableOutput } from "./runnable-output.js";
import { matrixFeed, outputNumbers, runOnnx } from "./onnx-run.js";
import type { ModelVersionInfo } from "@kiln/sdk";

/** How far the ensemble's outputs may stray from onnxruntime's (its float32 sums) before the reading is not trusted. */
const AGREEMENT = 1e-4;

/** The model run on rows: its outputs, and the rows as its trees read them. */
type TreeRun = (rows: Float64Array, count: number) => Promise<{ outputs: Float64Array; features: Float64Array }>;

/**
 * Tree SHAP on the worker pool for a model whose output is a tree ensemble's (see
 * readTreeEnsemble): exact interventional Shapley values, as ShapleyExplainer's "exact"
 * gives, for any number of features. Values are of the output's columns; where the model
 * puts its sums through a sigmoid or softmax, of their margins. Behind per-feature
 * preprocessing (a scaler, an imputer), the trees explain the rows the model makes of the
 * input, each of their features standing for the input's feature it is made from.
 */
export class TreeExplainer {
  readonly method = "tree";

  private constructor(
    private readonly deps: ExecutorDeps,
    private readonly reading: TreeReading,
    private readonly run: TreeRun,
    /** [background rows, tree features]: the background as the trees read it. */
    private readonly background: Float64Array,
    private readonly width: number,
    private readonly float32: boolean,
    /** [columns]: each column's mean over the background (its margin's, with a link). */
    readonly base: Float64Array,
  ) {}

  /**
   * Reads the ensemble and checks the reading against onnxruntime on the background rows.
   * Throws NotTreeEnsembleError when the output is not an ensemble's (nor, unless `margins`,
   * its sums themselves) or the reading disagrees with the model's answers.
   */
  static async create(deps: ExecutorDeps, version: ModelVersionInfo, runnable: RunnableOutput, input: MatrixInput, background: Float64Array, model: BatchModel, margins: boolean): Promise<TreeExplainer> {
    const reading = await deps.onnx.readTrees(runnable.file, input.name, runnable.output);
    if (!margins && reading.link !== "identity") throw new NotTreeEnsembleError(`its trees' sums go through a ${reading.link} function, whose outputs Tree SHAP does not share out`);
    const run = await treeRun(deps, version, runnable, input, reading, model);
    const width = input.features.length;
    const float32 = input.type === "float32";
    const count = background.length / width;
    const { outputs, features } = await run(float32 ? asFloat32Values(background) : background, count).catch((e: unknown) => {
      // The model with what its trees read as an output may not load (a double tensor declared float): explain it otherwise.
      if (!reading.preprocessed || !(e instanceof OnnxRunError || e instanceof OnnxFormatError)) throw e;
      throw new NotTreeEnsembleError(`what its trees read ("${reading.preprocessed.tensor}") cannot be fetched: ${e.message}`);
    });
    const treeWidth = features.length / count;
    const sums = treeSums(reading.ensemble, features, count, treeWidth);
    checkAgreement(reading, sums, outputs, count);
    return new TreeExplainer(deps, reading, run, features, width, float32, treeBase(reading, features, count, treeWidth, sums));
  }

  /** Whether values are of the outputs themselves ("output") or of the margins a sigmoid or softmax makes them from. */
  get space(): "output" | "margin" {
    return treeOutputSpace(this.reading);
  }

  /** A cost per explained row to size slices by, as ShapleyExplainer's model rows are: background rows times trees. */
  get rowsPerExplainedRow(): number {
    return (this.background.length / this.treeWidth) * this.reading.ensemble.roots.length;
  }

  /** `count` rows' values ([count, width, columns]), the model's outputs ([count, columns]) and the margins explained. */
  async explain(rows: Float64Array, count: number): Promise<{ values: Float64Array; outputs: Float64Array; margins: Float64Array }> {
    const { outputs, features } = count ? await this.run(this.float32 ? asFloat32Values(rows) : rows.slice(), count) : { outputs: new Float64Array(0), features: new Float64Array(0) };
    const m = this.treeWidth;
    const k = this.reading.ensemble.targets;
    const pieces = Math.max(1, Math.min(RUNS_IN_FLIGHT, count));
    const per = Math.ceil(count / pieces);
    const starts = Array.from({ length: pieces }, (_, p) => p * per).filter((at) => at < count);
    // Each piece's own copy: a view of a bigger buffer would cross to the worker whole.
    const shaps = await Promise.all(starts.map((at) => this.deps.onnx.treeShap(this.reading.ensemble, features.slice(at * m, Math.min(count, at + per) * m), Math.min(per, count - at), this.background, m)));
    const values = new Float64Array(count * m * k);
    const sums = new Float64Array(count * k);
    starts.forEach((at, p) => {
      values.set(shaps[p]!.values, at * m * k);
      sums.set(shaps[p]!.sums, at * k);
    });
    return { values: this.inputValues(treeColumns(this.reading, values), count), outputs, margins: treeColumns(this.reading, sums) };
  }

  private get treeWidth(): number {
    return this.reading.preprocessed?.columns?.length ?? this.width;
  }

  /** [count, width, columns] of the input's features from [count, tree features, columns]: a feature no tree reads has 0. */
  private inputValues(values: Float64Array, count: number): Float64Array {
    const from = this.reading.preprocessed?.columns;
    if (!from) return values;
    const c = this.reading.target.length;
    const out = new Float64Array(count * this.width * c);
    for (let i = 0; i < count; i++) {
      from.forEach((j, t) => {
        for (let o = 0; o < c; o++) out[(i * this.width + j) * c + o] = values[(i * from.length + t) * c + o]!;
      });
    }
    return out;
  }
}

/** How the explainer runs the model: on its own for trees that read the input as it is, else fetching what they read too. */
async function treeRun(deps: ExecutorDeps, version: ModelVersionInfo, runnable: RunnableOutput, input: MatrixInput, reading: TreeReading, model: BatchModel): Promise<TreeRun> {
  const tensor = reading.preprocessed?.tensor;
  if (!tensor) return async (rows, count) => ({ outputs: await model(rows, count), features: rows });
  const exposed = await deps.models.withFloatOutput(version, [runnable.output, tensor]);
  return async (rows, count) => {
    const out = await runOnnx(deps, exposed.bytes, exposed.key, { [input.name]: matrixFeed(input, rows, count) }, [runnable.output, tensor]);
    const outputs = outputNumbers(out[runnable.output]!);
    const features = outputNumbers(out[tensor]!);
    if (!outputs || !features) throw new NotTreeEnsembleError(`the model's "${runnable.output}" or its trees' input "${tensor}" is not numbers`);
    return { outputs, features };
  };
}

/** The reading's outputs (the link applied to the margins) against onnxruntime's, row by row. */
function checkAgreement(reading: TreeReading, sums: Float64Array, model: Float64Array, count: number): void {
  const mine = treeOutputs(reading, treeColumns(reading, sums));
  const c = reading.target.length;
  if (model.length !== mine.length) throw new NotTreeEnsembleError(`the model gives ${model.length / Math.max(1, count)} outputs a row and its ensemble ${c}`);
  mine.forEach((v, at) => {
    const theirs = model[at]!;
    if (Math.abs(v - theirs) > AGREEMENT * Math.max(1, Math.abs(theirs))) {
      throw new NotTreeEnsembleError(`its tree ensemble read gives ${v} where onnxruntime gives ${theirs} (background row ${Math.floor(at / c)}, output ${at % c})`);
    }
  });
}
