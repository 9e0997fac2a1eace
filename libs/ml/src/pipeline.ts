import type { OnnxGraphBuilder } from "@kiln/onnx";
import { InvalidInputError, MLError, ModelFormatError, NotFittedError } from "./errors.js";
import type { Estimator, OnnxOutputs, Params } from "./estimator.js";
import type { ClassLabel, LabelInput } from "./labels.js";
import type { Matrix, MatrixInput } from "./matrix.js";
import { modelToOnnx } from "./onnx-export.js";
import { chainDrawing, drawDot, drawMermaid, type DrawnNode } from "./graph/draw.js";
import { FORMAT, loadModel, registerLoader, type SerializedModel } from "./serialize.js";

/** What a pipeline (or a graph) needs of a step: fit, and transform for every step but the last. */
export type Step = Estimator & {
  fit(X: MatrixInput, y?: LabelInput): Estimator;
  transform?(X: MatrixInput): Matrix;
  fitTransform?(X: MatrixInput, y?: LabelInput): Matrix;
  predict?(X: MatrixInput): ClassLabel[] | Float64Array | Int32Array;
  predictProba?(X: MatrixInput): Matrix;
  decisionFunction?(X: MatrixInput): Matrix;
  score?(X: MatrixInput, y: LabelInput): number;
  readonly classes?: ClassLabel[];
};

export type NamedStep<E extends Estimator = Estimator> = readonly [name: string, estimator: E];

/** The steps: any transformers, then the final estimator, each bare or named. */
export type PipelineSteps<Final extends Estimator> = readonly [...(NamedStep | Estimator)[], Final | NamedStep<Final>];

/** What method M of F returns (never when F has no M). */
export type Returned<F, M extends string> = F extends { [K in M]: (...args: never[]) => infer R } ? R : never;

interface PipelineState {
  steps: { name: string; model: SerializedModel }[];
}

/**
 * sklearn's Pipeline: transformers then a final estimator, fitted as one, exported as one
 * ONNX graph (each step's exportOnnx feeding the next). Steps are [name, estimator] pairs
 * or bare estimators, named like make_pipeline (lowercased kind, "-1", "-2"… when a kind repeats).
 * Parameters are addressed as "step__param".
 */
export class Pipeline<Final extends Estimator = Estimator> implements Estimator {
  readonly kind = "Pipeline";
  readonly steps: readonly NamedStep[];

  constructor(steps: PipelineSteps<Final>) {
    if (steps.length === 0) throw new InvalidInputError("a Pipeline needs at least one step", "BAD_PIPELINE");
    this.steps = nameSteps(steps);
    this.steps.forEach(([name, step], i) => {
      if (typeof (step as Step).fit !== "function") throw new InvalidInputError(`step "${name}" (${step.kind}) has no fit()`, "BAD_PIPELINE");
      if (i < this.steps.length - 1 && typeof (step as Step).transform !== "function") {
        throw new InvalidInputError(`step "${name}" (${step.kind}) is not the last step, so it must have transform()`, "BAD_PIPELINE");
      }
    });
  }

  /** Steps by name. */
  get namedSteps(): Record<string, Estimator> {
    return Object.fromEntries(this.steps);
  }

  get fitted(): boolean {
    return this.steps.every(([, step]) => step.fitted);
  }

  /** As its last step: a pipeline ending in a transformer transforms, whatever came before. */
  get predicts(): boolean {
    return this.steps.at(-1)![1].predicts;
  }

  /** As its first step: an imputer first fills the missing values before any other step sees them. */
  get takesMissingValues(): boolean {
    return this.steps[0]![1].takesMissingValues;
  }

  get nFeatures(): number {
    return this.steps[0][1].nFeatures;
  }

  /** The final step's classes ([] when it is not a classifier). */
  get classes(): ClassLabel[] {
    return this.last().classes ?? [];
  }

  fit(X: MatrixInput, y?: LabelInput): this {
    const Xt = this.fitTransformers(X, y);
    this.last().fit(Xt, y);
    return this;
  }

  /** What the final step's predict returns: class labels, regression values, cluster indices. */
  predict(X: MatrixInput): Returned<Final, "predict"> {
    return this.finalMethod("predict")(this.transformThrough(X)) as Returned<Final, "predict">;
  }

  predictProba(X: MatrixInput): Matrix {
    return this.finalMethod("predictProba")(this.transformThrough(X));
  }

  decisionFunction(X: MatrixInput): Matrix {
    return this.finalMethod("decisionFunction")(this.transformThrough(X));
  }

  score(X: MatrixInput, y: LabelInput): number {
    return this.finalMethod("score")(this.transformThrough(X), y);
  }

  /** Every step must be a transformer. */
  transform(X: MatrixInput): Matrix {
    return this.finalMethod("transform")(this.transformThrough(X));
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  /** sklearn's get_params(deep=True), without the step objects: "step__param" for every step's parameters. */
  getParams(): Params {
    return stepParams(this.steps);
  }

  setParams(params: Params): this {
    setStepParams(this.steps, params, "Pipeline");
    return this;
  }

  toJSON(): SerializedModel {
    const state: PipelineState = { steps: this.steps.map(([name, step]) => ({ name, model: step.toJSON() })) };
    return { format: FORMAT, kind: this.kind, params: { steps: this.steps.map(([name]) => name) }, state };
  }

  static fromJSON(model: SerializedModel | string): Pipeline {
    const m = (typeof model === "string" ? JSON.parse(model) : model) as SerializedModel;
    if (m?.format !== FORMAT || m.kind !== "Pipeline") throw new ModelFormatError(`not a ${FORMAT} Pipeline`, "WRONG_KIND");
    const steps = (m.state as PipelineState | null)?.steps;
    if (!Array.isArray(steps)) throw new ModelFormatError("Pipeline state has no steps", "BAD_MODEL_STATE");
    return new Pipeline(steps.map(({ name, model: stepModel }) => [name, loadModel(stepModel)] as NamedStep) as unknown as PipelineSteps<Estimator>);
  }

  toOnnx(): Uint8Array {
    return modelToOnnx(this);
  }

  exportOnnx(graph: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    let current = input;
    let out: OnnxOutputs | undefined;
    for (const [name, step] of this.steps) {
      if (out) {
        if (out.kind !== "transform") throw new MLError(`step before "${name}" produced ${out.kind}, not a transform`, "BAD_PIPELINE");
        current = out.variable;
      }
      out = step.exportOnnx(graph, current, `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, "_")}`);
    }
    return out!;
  }

  /** The steps drawn in Mermaid's flowchart syntax, each with its width once fitted. */
  toMermaid(): string {
    return drawMermaid(this.drawing());
  }

  /** The steps drawn in Graphviz's DOT. */
  toDot(): string {
    return drawDot(this.drawing());
  }

  private drawing(): DrawnNode[] {
    return chainDrawing(this.nFeatures, this.steps.map(([name, step]) => ({ label: `${name}: ${step.kind}`, nFeatures: step.nFeatures })));
  }

  private last(): Step {
    return this.steps[this.steps.length - 1][1] as Step;
  }

  private fitTransformers(X: MatrixInput, y?: LabelInput): MatrixInput {
    let Xt = X;
    for (const [, step] of this.steps.slice(0, -1)) {
      const s = step as Step;
      Xt = s.fitTransform ? s.fitTransform(Xt, y) : (s.fit(Xt, y), s.transform!(Xt));
    }
    return Xt;
  }

  private transformThrough(X: MatrixInput): MatrixInput {
    let Xt = X;
    for (const [name, step] of this.steps.slice(0, -1)) {
      if (!step.fitted) throw new NotFittedError(`Pipeline step "${name}" (${step.kind})`);
      Xt = (step as Step).transform!(Xt);
    }
    return Xt;
  }

  private finalMethod<M extends "predict" | "predictProba" | "decisionFunction" | "score" | "transform">(method: M): NonNullable<Step[M]> {
    const last = this.last();
    const fn = last[method];
    if (typeof fn !== "function") {
      const [name] = this.steps[this.steps.length - 1];
      throw new MLError(`the last Pipeline step "${name}" (${last.kind}) has no ${method}()`, "NOT_SUPPORTED");
    }
    return fn.bind(last) as NonNullable<Step[M]>;
  }
}

/** "step__param" for every parameter of every step. */
export function stepParams(steps: readonly NamedStep[]): Params {
  return Object.fromEntries(steps.flatMap(([name, step]) => Object.entries(step.getParams()).map(([key, value]) => [`${name}__${key}`, value])));
}

/** Sets "step__param" parameters on the steps they name; an unknown step changes nothing. */
export function setStepParams(steps: readonly NamedStep[], params: Params, owner: string): void {
  const named = Object.fromEntries(steps);
  const byStep = new Map<string, Params>();
  for (const [key, value] of Object.entries(params)) {
    const split = key.indexOf("__");
    const name = key.slice(0, split);
    if (split < 0 || !named[name]) {
      throw new InvalidInputError(`${owner} parameter "${key}" must be "step__param" with a step among ${steps.map(([n]) => n).join(", ")}`, "UNKNOWN_PARAMETER");
    }
    byStep.set(name, { ...byStep.get(name), [key.slice(split + 2)]: value });
  }
  for (const [name, values] of byStep) named[name]!.setParams(values);
}

/** Names bare estimators as make_pipeline does (lowercased kind, "-1", "-2"… when a kind repeats); names must be unique. */
export function nameSteps(steps: readonly (NamedStep | Estimator)[], owner = "Pipeline"): NamedStep[] {
  const kinds = steps.filter((s) => !Array.isArray(s)).map((s) => (s as Estimator).kind.toLowerCase());
  const repeated = new Set(kinds.filter((k, i) => kinds.indexOf(k) !== i));
  const counts = new Map<string, number>();
  const named = steps.map((s): NamedStep => {
    if (Array.isArray(s)) return [s[0], s[1]];
    const base = (s as Estimator).kind.toLowerCase();
    if (!repeated.has(base)) return [base, s as Estimator];
    const n = (counts.get(base) ?? 0) + 1;
    counts.set(base, n);
    return [`${base}-${n}`, s as Estimator];
  });
  const seen = new Set<string>();
  for (const [name] of named) {
    if (!name || name.includes("__")) throw new InvalidInputError(`${owner} step name "${name}" must be non-empty and contain no "__"`, "BAD_PIPELINE");
    if (seen.has(name)) throw new InvalidInputError(`${owner} step name "${name}" is used twice`, "BAD_PIPELINE");
    seen.add(name);
  }
  return named;
}

registerLoader("Pipeline", (m) => Pipeline.fromJSON(m));
