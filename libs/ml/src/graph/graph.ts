import type { OnnxGraphBuilder } from "@kiln/onnx";
import { InvalidInputError, MLError, ModelFormatError, NotFittedError } from "../errors.js";
import type { Estimator, OnnxOutputs, Params } from "../estimator.js";
import type { ClassLabel, LabelInput } from "../labels.js";
import { toMatrix, type Matrix, type MatrixInput } from "../matrix.js";
import { modelToOnnx } from "../onnx-export.js";
import { nameSteps, setStepParams, stepParams, type NamedStep, type Returned, type Step } from "../pipeline.js";
import { FORMAT, registerLoader, type SerializedModel } from "../serialize.js";
import { drawDot, drawMermaid } from "./draw.js";
import { evaluate } from "./evaluate.js";
import { exportStateless, type OnnxValue } from "./onnx.js";
import { decodeNodes, encodeNodes, type SerializedNode } from "./serialized.js";
import { input as newInput, Sym } from "./symbol.js";

interface GraphState {
  nodes: SerializedNode[];
  /** Width of X seen by fit (0 before). */
  nFeatures: number;
  /** Columns of each node's matrix at fit (the output layer's, when it predicts: 0). */
  widths: number[];
}

type Layer = Extract<Sym["node"], { op: "layer" }>;

/**
 * A pipeline as a graph (Megatron's, Keras' functional API): from one input X, stateless
 * nodes (traced expressions: arithmetic, math functions, column selection, concatenation,
 * row reductions) and stateful layers (any estimator: scalers, PCA, encoders, a final
 * predictor) in any shape, branches joined by concat. Fitted as one (each layer on what
 * reaches it, in order), exported as one ONNX graph, serialized as data (no code), drawn
 * as Mermaid or Graphviz. Layer parameters are addressed as "layer__param".
 */
export class Graph<Output = unknown> implements Estimator {
  readonly kind = "Graph";
  /** Every node, each after what it reads; the input first, the output last. */
  readonly nodes: readonly Sym[];
  /** The stateful layers by name. */
  readonly layers: readonly NamedStep[];
  private readonly index = new Map<Sym, number>();
  private readonly names = new Map<Sym, string>();
  /** For each node, the index of the last node reading it (-1: none), after which its matrix can go. */
  private readonly lastReader: number[];
  private fittedShape?: { nFeatures: number; widths: number[] };

  constructor(
    readonly input: Sym,
    readonly output: Sym<Output>,
  ) {
    if (input.node.op !== "input") throw new InvalidInputError("a Graph starts at an input() Sym", "BAD_GRAPH");
    this.nodes = topologicalOrder(output);
    this.nodes.forEach((s, i) => this.index.set(s, i));
    this.lastReader = new Array<number>(this.nodes.length).fill(-1);
    this.nodes.forEach((s, i) => s.inputs.forEach((r) => (this.lastReader[this.index.get(r)!] = i)));
    const inputs = this.nodes.filter((s) => s.node.op === "input");
    if (!inputs.includes(input)) throw new InvalidInputError("the Graph's output does not read its input", "BAD_GRAPH");
    if (inputs.length > 1) throw new InvalidInputError(`the Graph's output reads ${inputs.length} inputs; a Graph has one, X (select columns of it instead)`, "BAD_GRAPH");
    const layerSyms = this.nodes.filter((s) => s.node.op === "layer");
    this.layers = nameSteps(
      layerSyms.map((s) => {
        const { estimator, name } = s.node as Layer;
        return name === undefined ? estimator : ([name, estimator] as NamedStep);
      }),
      "Graph",
    );
    layerSyms.forEach((s, i) => this.names.set(s, this.layers[i]![0]));
    const reused = this.layers.find(([, e], i) => this.layers.findIndex(([, other]) => other === e) !== i);
    if (reused) throw new InvalidInputError(`layer "${reused[0]}" is an estimator another layer is too: each layer fits its own (make a new ${reused[1].kind})`, "BAD_GRAPH");
    for (const s of layerSyms) {
      const { estimator } = s.node as Layer;
      if (typeof (estimator as Step).fit !== "function") throw new InvalidInputError(`layer "${this.names.get(s)}" (${estimator.kind}) has no fit()`, "BAD_GRAPH");
      if (s !== output && typeof (estimator as Step).transform !== "function") {
        throw new InvalidInputError(`layer "${this.names.get(s)}" (${estimator.kind}) feeds other nodes, so it must transform; only the output may only predict`, "BAD_GRAPH");
      }
    }
  }

  /** A graph of one function of X, traced once (sklearn's FunctionTransformer, without shipping the function). */
  static trace<O>(fn: (x: Sym) => Sym<O>): Graph<O> {
    const x = newInput();
    return new Graph(x, fn(x));
  }

  /** The names of X's columns, when its input was given them. */
  get columns(): readonly string[] | undefined {
    return this.input.node.op === "input" ? this.input.node.columns : undefined;
  }

  get fitted(): boolean {
    return this.fittedShape !== undefined && this.layers.every(([, e]) => e.fitted);
  }

  get nFeatures(): number {
    return this.fittedShape?.nFeatures ?? 0;
  }

  /** When its output is a layer that predicts. */
  get predicts(): boolean {
    return this.outputLayer()?.estimator.predicts ?? false;
  }

  /** When everything reading X directly is a layer that takes missing values (a SimpleImputer). */
  get takesMissingValues(): boolean {
    const readers = this.nodes.filter((s) => s.inputs.includes(this.input));
    return readers.every((s) => s.node.op === "layer" && s.node.estimator.takesMissingValues);
  }

  /** The output layer's classes ([] when it is not a classifier). */
  get classes(): ClassLabel[] {
    return (this.outputLayer()?.estimator as Step | undefined)?.classes ?? [];
  }

  fit(X: MatrixInput, y?: LabelInput): this {
    const m = this.checkedColumns(toMatrix(X, { allowNaN: this.takesMissingValues }));
    const widths = new Array<number>(this.nodes.length).fill(0);
    this.run(m, (layer, input, isOutput) => {
      const step = layer.estimator as Step;
      if (!isOutput) return step.fitTransform ? step.fitTransform(input, y) : (step.fit(input, y), step.transform!(input));
      step.fit(input, y);
      return undefined;
    }, widths);
    this.fittedShape = { nFeatures: m.cols, widths };
    return this;
  }

  /** What the output layer's predict returns: class labels, regression values, cluster indices. */
  predict(X: MatrixInput): Returned<Output, "predict"> {
    return this.outputMethod("predict")(this.outputLayerInput(X)) as Returned<Output, "predict">;
  }

  predictProba(X: MatrixInput): Matrix {
    return this.outputMethod("predictProba")(this.outputLayerInput(X));
  }

  decisionFunction(X: MatrixInput): Matrix {
    return this.outputMethod("decisionFunction")(this.outputLayerInput(X));
  }

  score(X: MatrixInput, y: LabelInput): number {
    return this.outputMethod("score")(this.outputLayerInput(X), y);
  }

  /** The output's matrix: a stateless output's values, or the output layer's transform. */
  transform(X: MatrixInput): Matrix {
    if (this.outputLayer()) return this.outputMethod("transform")(this.outputLayerInput(X));
    return this.forward(X);
  }

  fitTransform(X: MatrixInput, y?: LabelInput): Matrix {
    return this.fit(X, y).transform(X);
  }

  getParams(): Params {
    return stepParams(this.layers);
  }

  setParams(params: Params): this {
    setStepParams(this.layers, params, "Graph");
    return this;
  }

  toJSON(): SerializedModel {
    const state: GraphState = { nodes: encodeNodes(this.nodes, this.index, this.names), nFeatures: this.nFeatures, widths: this.fittedShape?.widths ?? [] };
    return { format: FORMAT, kind: this.kind, params: { layers: this.layers.map(([name]) => name) }, state };
  }

  static fromJSON(model: SerializedModel | string): Graph {
    const m = (typeof model === "string" ? JSON.parse(model) : model) as SerializedModel;
    if (m?.format !== FORMAT || m.kind !== "Graph") throw new ModelFormatError(`not a ${FORMAT} Graph`, "WRONG_KIND");
    const state = m.state as GraphState | null;
    if (!state || !Array.isArray(state.nodes) || state.nodes.length === 0) throw new ModelFormatError("Graph state has no nodes", "BAD_MODEL_STATE");
    const syms = decodeNodes(state.nodes);
    const graph = new Graph(syms[0]!, syms.at(-1)!);
    if (state.nFeatures > 0) graph.fittedShape = { nFeatures: state.nFeatures, widths: state.widths };
    return graph;
  }

  toOnnx(): Uint8Array {
    return modelToOnnx(this);
  }

  exportOnnx(g: OnnxGraphBuilder, input: string, prefix: string): OnnxOutputs {
    const shape = this.fittedShape;
    if (!shape || !this.fitted) throw new NotFittedError(this.kind);
    const values: OnnxValue[] = [];
    for (const [i, s] of this.nodes.entries()) {
      const node = s.node;
      if (node.op === "input") {
        values[i] = { variable: input, width: shape.nFeatures };
        continue;
      }
      const value = (r: Sym) => values[this.index.get(r)!]!;
      if (node.op !== "layer") {
        values[i] = exportStateless(g, node, value, `${prefix}_${i}_${node.op}`, shape.widths[i]!);
        continue;
      }
      const name = this.names.get(s)!;
      const out = node.estimator.exportOnnx(g, value(node.x).variable, `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, "_")}`);
      if (s === this.output) return out;
      if (out.kind !== "transform") throw new MLError(`layer "${name}" exported ${out.kind}, not a transform`, "BAD_GRAPH");
      values[i] = { variable: out.variable, width: out.width };
    }
    const last = values.at(-1)!;
    return { kind: "transform", variable: last.variable, width: last.width };
  }

  /** The graph in Mermaid's flowchart syntax (renders in GitHub, GitLab, notebooks). */
  toMermaid(): string {
    return drawMermaid(this.drawing());
  }

  /** The graph in Graphviz's DOT (dot -Tsvg). */
  toDot(): string {
    return drawDot(this.drawing());
  }

  private drawing() {
    return this.nodes.map((s, i) => ({ label: label(s, this.names.get(s)), width: this.fittedShape?.widths[i] ?? (s.node.op === "input" ? this.nFeatures : 0), reads: s.inputs.map((r) => this.index.get(r)!) }));
  }

  private outputLayer(): Layer | undefined {
    return this.output.node.op === "layer" ? this.output.node : undefined;
  }

  private outputMethod<M extends "predict" | "predictProba" | "decisionFunction" | "score" | "transform">(method: M): NonNullable<Step[M]> {
    const layer = this.outputLayer();
    const fn = (layer?.estimator as Step | undefined)?.[method];
    if (typeof fn !== "function") throw new MLError(`the Graph's output ${layer ? `layer "${this.names.get(this.output)}" (${layer.estimator.kind})` : "(a stateless node)"} has no ${method}()`, "NOT_SUPPORTED");
    return fn.bind(layer!.estimator) as NonNullable<Step[M]>;
  }

  /** What reaches the output layer, computed with the fitted layers. */
  private outputLayerInput(X: MatrixInput): Matrix {
    const layer = this.outputLayer()!;
    return this.forward(X, this.index.get(layer.x)!);
  }

  /** The matrix of node `upTo` (default: the output) for X, with every layer before it fitted. */
  private forward(X: MatrixInput, upTo = this.nodes.length - 1): Matrix {
    if (!this.fitted) throw new NotFittedError(this.kind);
    const m = this.checkedColumns(toMatrix(X, { allowNaN: this.takesMissingValues }));
    if (m.cols !== this.nFeatures) throw new MLError(`Graph was fitted on ${this.nFeatures} columns, X has ${m.cols}`, "FEATURE_COUNT");
    return this.run(m, (layer, input) => (layer.estimator as Step).transform!(input), undefined, upTo)!;
  }

  /** X as the input's names have it: as many columns, and the same names in the same order when X has names. */
  private checkedColumns(m: Matrix): Matrix {
    const names = this.columns;
    if (!names) return m;
    if (m.cols !== names.length) throw new InvalidInputError(`the Graph's input has ${names.length} columns (${names.join(", ")}), X has ${m.cols}`, "FEATURE_COUNT");
    if (m.columns && m.columns.some((c, i) => c !== names[i])) {
      throw new InvalidInputError(`X's columns are ${m.columns.join(", ")}; the Graph's input takes ${names.join(", ")}, in this order`, "COLUMN_MISMATCH");
    }
    return m;
  }

  /**
   * Computes nodes 0…upTo in order on X, a layer by `layer`; each matrix is dropped once
   * the last node reading it has run. Returns node upTo's matrix.
   */
  private run(m: Matrix, layer: (node: Layer, input: Matrix, isOutput: boolean) => Matrix | undefined, widths?: number[], upTo = this.nodes.length - 1): Matrix | undefined {
    const values: (Matrix | undefined)[] = [];
    const read = (r: Sym) => values[this.index.get(r)!]!;
    for (let i = 0; i <= upTo; i++) {
      const node = this.nodes[i]!.node;
      values[i] = node.op === "input" ? m : node.op === "layer" ? layer(node, read(node.x), this.nodes[i] === this.output) : evaluate(node, read);
      if (widths && values[i]) widths[i] = values[i]!.cols;
      for (const r of this.nodes[i]!.inputs) {
        const at = this.index.get(r)!;
        if (this.lastReader[at] === i && at !== upTo) values[at] = undefined;
      }
    }
    return values[upTo];
  }
}

/** Every Sym the output reads, directly or not, each after those it reads. */
function topologicalOrder(output: Sym): Sym[] {
  const order: Sym[] = [];
  const done = new Set<Sym>();
  // Iterative depth-first: graphs of long traced chains would overflow the stack recursively.
  const stack: { s: Sym; next: number }[] = [{ s: output, next: 0 }];
  while (stack.length > 0) {
    const top = stack.at(-1)!;
    const inputs = top.s.inputs;
    if (top.next < inputs.length) {
      const r = inputs[top.next++]!;
      if (!done.has(r)) stack.push({ s: r, next: 0 });
      continue;
    }
    stack.pop();
    if (!done.has(top.s)) {
      done.add(top.s);
      order.push(top.s);
    }
  }
  // The input first: a graph's serialized form starts with it.
  return [...order.filter((s) => s.node.op === "input"), ...order.filter((s) => s.node.op !== "input")];
}

function label(s: Sym, name: string | undefined): string {
  const n = s.node;
  switch (n.op) {
    case "input":
      return n.columns ? `X: ${n.columns.join(", ")}` : "X";
    case "layer":
      return `${name}: ${n.estimator.kind}`;
    case "unary":
    case "reduce":
      return n.fn;
    case "binary":
      return n.b instanceof Sym ? n.fn : `${n.fn} ${JSON.stringify(n.b)}`;
    case "clip":
      return `clip ${n.min}…${n.max}`;
    case "select":
      return `columns ${n.columns.join(",")}`;
    case "concat":
      return "concat";
  }
}

registerLoader("Graph", (m) => Graph.fromJSON(m));
