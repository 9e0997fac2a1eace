import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, type Client } from "@connectrpc/connect";
import {
  Combine,
  InferenceGraphNodeSchema,
  InferenceGraphSchema,
  InferenceGraphStepSchema,
  RouterType,
  StepData,
  StepDependency,
  type InferenceGraph,
  type InferenceGraphNode,
  type InferenceGraphService,
  type InferenceGraphStep,
} from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { decodeChunk, tableToIpc } from "@kiln/data";
import type { Table } from "apache-arrow";
import { AlreadyExistsError, call, InvalidArgumentError } from "./errors.js";
import { asTable, type DatasetInput } from "./inputs.js";
import { resourceName, shortName } from "./names.js";
import { allPages } from "@kiln/contracts";

export type RouterTypeName = "sequence" | "switch" | "ensemble" | "splitter";
export type CombineName = "side_by_side" | "mean" | "vote";
export type StepDataName = "response" | "request" | "response_and_request";
export type StepKindName = "predict" | "predict_proba" | "transform";
export type StepDependencyName = "hard" | "soft";

/**
 * One step of a node: a deployment (its id, or its full name) or another node. KServe's
 * spellings are taken too (`serviceName`, `nodeName`, `data: "$request"`), so an
 * InferenceGraph's nodes carry over as they are.
 */
export interface GraphStepSpec {
  /** Default: the deployment's or node's id. Names the step's columns in an ensemble. */
  name?: string;
  deployment?: string;
  node?: string;
  /** What a deployment step asks (default "predict"). */
  kind?: StepKindName;
  /** SEQUENCE: what the step is given (default the previous step's answer). */
  data?: StepDataName | "$request" | "$response";
  /** SWITCH: the rows it takes, as a dataset read's filter (`region = "EU"`); none: every row left. */
  condition?: string;
  /** SPLITTER: its share of the requests, 1 to 100 (they add up to 100). */
  weight?: number;
  /**
   * "soft": a SEQUENCE or ENSEMBLE can do without it, so its failure is passed over (and
   * shows in predictWithSteps' steps) instead of failing the request; any case (KServe's
   * "Soft"). Default "hard".
   */
  dependency?: StepDependencyName | string;
}

export interface GraphNodeSpec {
  /** "sequence", "switch", "ensemble" or "splitter" (any case: KServe's "Sequence" too). */
  routerType: RouterTypeName | string;
  steps: GraphStepSpec[];
  /** ENSEMBLE: "mean", "vote", or the steps' columns side by side (the default). */
  combine?: CombineName;
}

export interface InferenceGraphSpec {
  /** By name; "root" takes the request. */
  nodes: Record<string, GraphNodeSpec>;
  description?: string;
}

export interface InferenceGraphInfo {
  name: string;
  id: string;
  nodes: Record<string, Required<Pick<GraphNodeSpec, "routerType" | "combine">> & { steps: GraphStepSpec[] }>;
  description: string;
  createTime?: Date;
  updateTime?: Date;
  creator: string;
  updater: string;
}

/** Who answered one deployment step of a prediction, or why a SOFT step passed over failed. */
export interface GraphStepAnswer {
  node: string;
  step: string;
  /** Empty for a SOFT node step that failed. */
  deployment: string;
  modelVersion: string;
  rows: number;
  failure?: { code: string; reason: string; message: string };
  /** A SOFT step that failed, which the graph went on without. */
  passedOver: boolean;
}

const ROUTERS: Record<RouterTypeName, RouterType> = {
  sequence: RouterType.SEQUENCE,
  switch: RouterType.SWITCH,
  ensemble: RouterType.ENSEMBLE,
  splitter: RouterType.SPLITTER,
};
const COMBINES: Record<CombineName, Combine> = { side_by_side: Combine.UNSPECIFIED, mean: Combine.MEAN, vote: Combine.VOTE };
const DATA: Record<StepDataName | "$request" | "$response", StepData> = {
  response: StepData.UNSPECIFIED,
  $response: StepData.UNSPECIFIED,
  request: StepData.REQUEST,
  $request: StepData.REQUEST,
  response_and_request: StepData.RESPONSE_AND_REQUEST,
};
const DEPENDENCIES: Record<StepDependencyName, StepDependency> = { hard: StepDependency.UNSPECIFIED, soft: StepDependency.SOFT };
const KINDS: Record<StepKindName, JobKind> = { predict: JobKind.PREDICT, predict_proba: JobKind.PREDICT_PROBA, transform: JobKind.TRANSFORM };

/**
 * Inference graphs (KServe's InferenceGraph): deployments chained, routed by the rows'
 * values, ensembled or split behind one name.
 * `await kiln.inferenceGraphs.create("churn", { nodes: { root: { routerType: "sequence",
 * steps: [{ deployment: "features", kind: "transform" }, { deployment: "churn-clf" }] } } })`,
 * then `await kiln.inferenceGraphs.predict("churn", rows)`.
 */
export class InferenceGraphs {
  constructor(
    private readonly client: Client<typeof InferenceGraphService>,
    private readonly project: string,
  ) {}

  async create(id: string, spec: InferenceGraphSpec): Promise<InferenceGraphInfo> {
    const inferenceGraph = graphMessage(spec);
    const res = await call(() => this.client.createInferenceGraph({ parent: `projects/${this.project}`, inferenceGraphId: id, inferenceGraph }));
    return graphInfo(res.inferenceGraph!);
  }

  async get(id: string): Promise<InferenceGraphInfo> {
    return graphInfo((await call(() => this.client.getInferenceGraph({ name: this.name(id) }))).inferenceGraph!);
  }

  async list(): Promise<InferenceGraphInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.client.listInferenceGraphs({ parent: `projects/${this.project}`, pageSize: 1000, pageToken }));
      return { items: res.inferenceGraphs.map(graphInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Changes what `spec` gives: its nodes (all of them, checked again) and its description. */
  async update(id: string, spec: Partial<InferenceGraphSpec>): Promise<InferenceGraphInfo> {
    const updateMask = [...(spec.nodes ? ["nodes"] : []), ...(spec.description !== undefined ? ["description"] : [])];
    const inferenceGraph = graphMessage({ nodes: spec.nodes ?? {}, description: spec.description });
    inferenceGraph.name = this.name(id);
    return graphInfo((await call(() => this.client.updateInferenceGraph({ inferenceGraph, updateMask }))).inferenceGraph!);
  }

  /** Creates the graph, or replaces the nodes of the one of that id (and its description, when the spec has one). */
  async apply(id: string, spec: InferenceGraphSpec): Promise<InferenceGraphInfo> {
    try {
      return await this.create(id, spec);
    } catch (e) {
      if (!(e instanceof AlreadyExistsError)) throw e;
      return this.update(id, spec);
    }
  }

  async delete(id: string): Promise<void> {
    await call(() => this.client.deleteInferenceGraph({ name: this.name(id) }));
  }

  /** The rows run through the graph: what its last steps answered, in the rows' order. */
  async predict(id: string, X: DatasetInput, options: { keep?: string[] } = {}): Promise<Table> {
    return (await this.predictWithSteps(id, X, options)).table;
  }

  /** The same, and who answered each deployment step (the versions of a canary or a split show here). */
  async predictWithSteps(id: string, X: DatasetInput, options: { keep?: string[] } = {}): Promise<{ table: Table; steps: GraphStepAnswer[] }> {
    const { table } = asTable(X);
    const res = await call(() => this.client.predictInferenceGraph({ name: this.name(id), input: { case: "arrowIpc", value: tableToIpc(table) }, keepColumns: options.keep ?? [] }));
    return {
      table: decodeChunk(res.chunk!.arrowIpc),
      steps: res.steps.map((s) => ({
        node: s.node,
        step: s.step,
        deployment: s.deployment && shortName(s.deployment),
        modelVersion: s.modelVersion,
        rows: Number(s.rows),
        passedOver: s.passedOver,
        ...(s.failure && { failure: { code: s.failure.code, reason: s.failure.reason, message: s.failure.message } }),
      })),
    };
  }

  private name(id: string): string {
    return resourceName(this.project, "inferenceGraphs", id);
  }
}

/** A node's router in words: "switch", "ensemble (mean)". */
export function graphNodeText(node: InferenceGraphInfo["nodes"][string]): string {
  return node.combine === "side_by_side" ? node.routerType : `${node.routerType} (${node.combine})`;
}

/** A step in words: "deployment churn (transform), given the request where region = \"EU\", 50%". */
export function graphStepText(step: GraphStepSpec): string {
  const target = step.deployment !== undefined ? `deployment ${step.deployment}${step.kind && step.kind !== "predict" ? ` (${step.kind})` : ""}` : `node ${step.node}`;
  const data = step.data ? `, given the ${step.data.replace(/_/g, " ")}` : "";
  const condition = step.condition ? ` where ${step.condition}` : "";
  const weight = step.weight ? `, ${step.weight}%` : "";
  const soft = step.dependency === "soft" ? ", soft" : "";
  return `${target}${data}${condition}${weight}${soft}`;
}

/** The deployments a graph's steps name, each once. */
export function graphDeployments(g: InferenceGraphInfo): string[] {
  return [...new Set(Object.values(g.nodes).flatMap((n) => n.steps.flatMap((s) => (s.deployment ? [s.deployment] : []))))];
}

/** The spec as the service takes it; names it does not know are InvalidArgumentError INVALID_GRAPH here. */
export function graphMessage(spec: InferenceGraphSpec): InferenceGraph {
  const nodes: Record<string, InferenceGraphNode> = {};
  for (const [name, node] of Object.entries(spec.nodes)) {
    nodes[name] = create(InferenceGraphNodeSchema, {
      routerType: named(ROUTERS, String(node.routerType ?? "").toLowerCase(), `node ${name}: routerType`),
      combine: node.combine === undefined ? Combine.UNSPECIFIED : named(COMBINES, node.combine, `node ${name}: combine`),
      steps: (node.steps ?? []).map((step, i) => stepMessage(step as GraphStepSpec & { serviceName?: string; nodeName?: string; stepName?: string }, `node ${name}, step ${i + 1}`)),
    });
  }
  return create(InferenceGraphSchema, { nodes, description: spec.description ?? "" });
}

function stepMessage(step: GraphStepSpec & { serviceName?: string; nodeName?: string; stepName?: string }, where: string): InferenceGraphStep {
  const deployment = step.deployment ?? step.serviceName;
  const node = step.node ?? step.nodeName;
  if ((deployment === undefined) === (node === undefined)) throw invalid(`${where}: give a deployment or a node`);
  return create(InferenceGraphStepSchema, {
    name: step.name ?? step.stepName ?? "",
    target: deployment !== undefined ? { case: "deployment", value: deployment } : { case: "node", value: node! },
    kind: step.kind === undefined ? JobKind.UNSPECIFIED : named(KINDS, step.kind, `${where}: kind`),
    data: step.data === undefined ? StepData.UNSPECIFIED : named(DATA, step.data, `${where}: data`),
    condition: step.condition ?? "",
    weight: step.weight ?? 0,
    dependency: step.dependency === undefined ? StepDependency.UNSPECIFIED : named(DEPENDENCIES, String(step.dependency).toLowerCase(), `${where}: dependency`),
  });
}

function named<K extends string, V>(table: Record<K, V>, key: string, what: string): V {
  if (!Object.hasOwn(table, key)) throw invalid(`${what} is one of ${Object.keys(table).join(", ")}, not "${key}"`);
  return table[key as K];
}

function invalid(message: string): InvalidArgumentError {
  return new InvalidArgumentError(message, Code.InvalidArgument, "INVALID_GRAPH", {});
}

const nameOf = <V>(table: Record<string, V>, value: V): string => Object.keys(table).find((k) => table[k] === value && !k.startsWith("$"))!;

function graphInfo(g: InferenceGraph): InferenceGraphInfo {
  const nodes: InferenceGraphInfo["nodes"] = {};
  for (const [name, node] of Object.entries(g.nodes)) {
    nodes[name] = {
      routerType: nameOf(ROUTERS, node.routerType),
      combine: nameOf(COMBINES, node.combine) as CombineName,
      steps: node.steps.map((s) => ({
        name: s.name,
        ...(s.target.case === "deployment" ? { deployment: shortName(s.target.value) } : { node: s.target.value ?? "" }),
        ...(s.kind !== JobKind.UNSPECIFIED && { kind: nameOf(KINDS, s.kind) as StepKindName }),
        ...(s.data !== StepData.UNSPECIFIED && { data: nameOf(DATA, s.data) as StepDataName }),
        ...(s.condition && { condition: s.condition }),
        ...(s.weight && { weight: s.weight }),
        ...(s.dependency === StepDependency.SOFT && { dependency: "soft" }),
      })),
    };
  }
  return {
    name: g.name,
    id: shortName(g.name),
    nodes,
    description: g.description,
    createTime: g.createTime ? timestampDate(g.createTime) : undefined,
    updateTime: g.updateTime ? timestampDate(g.updateTime) : undefined,
    creator: g.creator,
    updater: g.updater,
  };
}
