import type { BatchModel } from "@kiln/ml";
import { asFloat32Values, NotTreeEnsembleError, treeBase, treeColumnValues, treeMargins, treeOutputs, treeSums, type TreeReading } from "@kiln/onnx";
import type { ExecutorDeps } from "./deps.js";
import type { MatrixInput } from "./feature-matrix.js";
import { RUNS_IN_FLIGHT } from "./inference.js";
import type { RunnableOutput } from "./runnable-output.js";

/** How far the ensemble's outputs may stray from onnxruntime's (its float32 sums) before the reading is not trusted. */
const AGREEMENT = 1e-4;

/**
 * Tree SHAP on the worker pool for a model whose output is a tree ensemble's (see
 * readTreeEnsemble): exact interventional Shapley values, as ShapleyExplainer's "exact"
 * gives, for any number of features. Values are of the output's columns; where the model
 * puts its sums through a sigmoid or softmax, of their margins.
 */
export class TreeExplainer {
  readonly method = "tree";

  private constructor(
    private readonly deps: ExecutorDeps,
    private readonly reading: TreeReading,
    private readonly model: BatchModel,
    private readonly background: Float64Array,
    private readonly width: number,
    private readonly float32: boolean,
    /** [columns]: each column's mean over the background (its margin's, with a link). */
    readonly base: Float64Array,
  ) {}

  /**
   * Reads the ensemble and checks the reading against onnxruntime on the background rows.
   * Throws NotTreeEnsembleError when the output is not an ensemble's or the reading
   * disagrees with the model's answers.
   */
  static async create(deps: ExecutorDeps, runnable: RunnableOutput, input: MatrixInput, background: Float64Array, model: BatchModel): Promise<TreeExplainer> {
    const reading = await deps.onnx.readTrees(runnable.file, input.name, runnable.output);
    const width = input.features.length;
    const float32 = input.type === "float32";
    const rows = float32 ? asFloat32Values(background) : background;
    const count = rows.length / width;
    const sums = treeSums(reading.ensemble, rows, count, width);
    checkAgreement(reading, sums, await model(rows, count), count);
    return new TreeExplainer(deps, reading, model, rows, width, float32, treeBase(reading, rows, count, width, sums));
  }

  /** Whether values are of the outputs themselves ("output") or of the margins a sigmoid or softmax makes them from. */
  get space(): "output" | "margin" {
    return this.reading.link === "identity" ? "output" : "margin";
  }

  /** A cost per explained row to size slices by, as ShapleyExplainer's model rows are: background rows times trees. */
  get rowsPerExplainedRow(): number {
    return (this.background.length / this.width) * this.reading.ensemble.roots.length;
  }

  /** `count` rows' values ([count, width, columns]), the model's outputs ([count, columns]) and the margins explained. */
  async explain(rows: Float64Array, count: number): Promise<{ values: Float64Array; outputs: Float64Array; margins: Float64Array }> {
    const x = this.float32 ? asFloat32Values(rows) : rows.slice();
    const m = this.width;
    const k = this.reading.ensemble.targets;
    const pieces = Math.max(1, Math.min(RUNS_IN_FLIGHT, count));
    const per = Math.ceil(count / pieces);
    const starts = Array.from({ length: pieces }, (_, p) => p * per).filter((at) => at < count);
    const [outputs, ...shaps] = await Promise.all([
      count ? this.model(x, count) : Promise.resolve(new Float64Array(0)),
      // Each piece's own copy: a view of a bigger buffer would cross to the worker whole.
      ...starts.map((at) => this.deps.onnx.treeShap(this.reading.ensemble, x.slice(at * m, Math.min(count, at + per) * m), Math.min(per, count - at), this.background, m)),
    ]);
    const values = new Float64Array(count * m * k);
    const sums = new Float64Array(count * k);
    starts.forEach((at, p) => {
      values.set(shaps[p]!.values, at * m * k);
      sums.set(shaps[p]!.sums, at * k);
    });
    return { values: treeColumnValues(this.reading, values), outputs: outputs as Float64Array, margins: treeMargins(this.reading, sums, count) };
  }
}

/** The reading's outputs (the link applied to the margins) against onnxruntime's, row by row. */
function checkAgreement(reading: TreeReading, sums: Float64Array, model: Float64Array, count: number): void {
  const mine = treeOutputs(reading, treeMargins(reading, sums, count), count);
  const c = reading.target.length;
  if (model.length !== mine.length) throw new NotTreeEnsembleError(`the model gives ${model.length / Math.max(1, count)} outputs a row and its ensemble ${c}`);
  mine.forEach((v, at) => {
    const theirs = model[at]!;
    if (Math.abs(v - theirs) > AGREEMENT * Math.max(1, Math.abs(theirs))) {
      throw new NotTreeEnsembleError(`its tree ensemble read gives ${v} where onnxruntime gives ${theirs} (background row ${Math.floor(at / c)}, output ${at % c})`);
    }
  });
}
