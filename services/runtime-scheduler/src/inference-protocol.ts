import { create, equals as equalMessages, type JsonObject } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { DEFAULT_PROJECT, invalidArgument, notFound, printable } from "@kiln/core";
import { decodeChunk, tableToIpc } from "@kiln/data";
import type { Table } from "apache-arrow";
import {
  GRPCInferenceService,
  ModelInferResponseSchema,
  ModelMetadataResponseSchema,
  ModelMetadataResponse_TensorMetadataSchema,
  type InferParameter,
  type ModelInferRequest,
  type ModelInferResponse,
  type ModelMetadataResponse,
  type ModelMetadataResponse_TensorMetadata,
} from "@kiln/proto/inference/grpc_predict_v2_pb";
import { DeploymentState, type Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ValueInfo } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { getDeployment } from "./deployments.js";
import { inferenceGraphAnswer } from "./inference-graph-run.js";
import { servedInferenceGraph } from "./inference-graphs.js";
import { deploymentsOf, entryDeployments, graphOf } from "./inference-protocol-graphs.js";
import { rethrowRemote } from "./job-errors.js";
import type { Scheduler } from "./job-store.js";
import { askDeployment, onlineParams } from "./online-predict.js";
import { datatypeOfElement, tableToTensors, tensorsToTable } from "./oip-tensors.js";

/** The platform an inference graph's metadata gives (a deployment's is its model's runtime, onnxruntime_onnx). */
const GRAPH_PLATFORM = "kiln_inference_graph";

const KINDS: Record<string, JobKind> = { predict: JobKind.PREDICT, predict_proba: JobKind.PREDICT_PROBA, transform: JobKind.TRANSFORM, explain: JobKind.EXPLAIN };
/** An explanation's parameters an inference request may carry beside `kind` (see PredictRequest.params). */
const EXPLAIN_PARAMETERS = ["background_rows", "method", "permutations", "random_state", "class", "background"];

/**
 * The Open Inference Protocol (KServe V2) over Kiln's deployments, so Triton, KServe and
 * MLServer clients call them unchanged: a model is a deployment (its id, or its full name
 * for another project than the default), its version the model version it serves. An
 * inference graph is a model too, named `inferenceGraphs/{id}` (or its full name), without versions.
 */
export function createInferenceService(s: Scheduler, version: string): ServiceImpl<typeof GRPCInferenceService> {
  return {
    serverLive: () => ({ live: true }),
    serverReady: () => ({ ready: true }),
    serverMetadata: () => ({ name: "kiln", version, extensions: [] }),
    modelReady: async (req) => ({ ready: await modelReady(s, req.name, req.version) }),
    modelMetadata: (req) => modelMetadata(s, req.name, req.version),
    modelInfer: (req, ctx) => modelInfer(s, req, ctx.timeoutMs()),
  };
}

/** Whether the deployment answers now (READY, or DEGRADED: fewer replicas, answering); a graph, whether every deployment it names does. */
export async function modelReady(s: Scheduler, model: string, version: string): Promise<boolean> {
  const graph = graphOf(model, version);
  const deployments = graph ? await deploymentsOf(s, await servedInferenceGraph(s, graph)) : [await deploymentOf(s, model, version)];
  return deployments.every((d) => d?.state === DeploymentState.READY || d?.state === DeploymentState.DEGRADED);
}

export async function modelInfer(s: Scheduler, req: ModelInferRequest, callerTimeoutMs?: number): Promise<ModelInferResponse> {
  const graph = graphOf(req.modelName, req.modelVersion);
  if (graph) return graphInfer(s, graph, req, callerTimeoutMs);
  const deployment = req.modelVersion ? await deploymentOf(s, req.modelName, req.modelVersion) : undefined;
  const name = deployment?.name ?? deploymentName(req.modelName);
  const { table, positional } = tensorsToTable(req.inputs, req.rawInputContents);
  const kind = kindOf(req);
  const params = kind === JobKind.EXPLAIN ? explainParameters(req) : undefined;
  const answer = await askDeployment(s, name, { rows: tableToIpc(table), kind, positional, params, callerTimeoutMs });
  return inferResponse(req, decodeChunk(answer.arrowIpc), versionNumber(answer.modelVersion));
}

/** A graph's answer: each step asks its deployment what the graph says (its kind), so the request has no `kind`. */
async function graphInfer(s: Scheduler, graph: string, req: ModelInferRequest, callerTimeoutMs?: number): Promise<ModelInferResponse> {
  if (req.parameters.kind) throw kindInGraph(req.modelName);
  const { table, positional } = tensorsToTable(req.inputs, req.rawInputContents);
  return inferResponse(req, await inferenceGraphAnswer(s, graph, table, positional, callerTimeoutMs), "");
}

export function kindInGraph(model: string) {
  return invalidArgument("KIND_IN_GRAPH", `${printable(model)} is an inference graph: its steps say what each deployment is asked, not the request's kind parameter`);
}

/** The answer's columns as the request's outputs: all of them, or those it asked for by name. */
function inferResponse(req: ModelInferRequest, answer: Table, modelVersion: string): ModelInferResponse {
  const { outputs, rawOutputContents } = tableToTensors(answer, req.rawInputContents.length > 0);
  const wanted = req.outputs.map((o) => o.name);
  const unknown = wanted.find((w) => !outputs.some((o) => o.name === w));
  if (unknown) throw invalidArgument("OUTPUT_NOT_FOUND", `the model gives no output "${printable(unknown)}" for this request (outputs: ${outputs.map((o) => o.name).join(", ")})`);
  const keep = outputs.map((o, i) => ({ o, raw: rawOutputContents[i] })).filter(({ o }) => wanted.length === 0 || wanted.includes(o.name));
  return create(ModelInferResponseSchema, {
    modelName: req.modelName,
    modelVersion,
    id: req.id,
    outputs: keep.map(({ o }) => o),
    rawOutputContents: rawOutputContents.length ? keep.map(({ raw }) => raw!) : [],
  });
}

/**
 * What to run: the request's `kind` parameter (predict, predict_proba, transform), else
 * probabilities when a requested output is named so, else a prediction.
 */
function kindOf(req: ModelInferRequest): JobKind {
  const asked = stringParam(req.parameters.kind);
  if (asked !== undefined) return kindNamed(asked);
  if (req.outputs.some((o) => /prob/i.test(o.name))) return JobKind.PREDICT_PROBA;
  if (req.outputs.some((o) => /^component|^transform/i.test(o.name))) return JobKind.TRANSFORM;
  return JobKind.PREDICT;
}

/** What a `kind` parameter names: predict, predict_proba, transform or explain. */
export function kindNamed(asked: string): JobKind {
  const kind = KINDS[asked.toLowerCase()];
  if (!kind) throw invalidArgument("INVALID_KIND", `parameter kind "${printable(asked)}" is not one of ${Object.keys(KINDS).join(", ")}`);
  return kind;
}

/** The request's explanation parameters, checked as PredictRequest's. */
function explainParameters(req: ModelInferRequest): JsonObject {
  const params: JsonObject = {};
  for (const key of EXPLAIN_PARAMETERS) {
    const p = req.parameters[key]?.parameterChoice;
    if (p?.case === undefined) continue;
    params[key] = typeof p.value === "bigint" ? Number(p.value) : p.value;
  }
  return onlineParams(JobKind.EXPLAIN, params)!;
}

function stringParam(p: InferParameter | undefined): string | undefined {
  return p?.parameterChoice.case === "stringParam" ? p.parameterChoice.value : undefined;
}

/**
 * A deployment's name, version, platform and its model's tensors. A graph's: no versions,
 * and the inputs of the deployments that read the request's rows when they all read the
 * same and no switch reads them first (what else it reads and answers depends on where its
 * routes send the rows).
 */
export async function modelMetadata(s: Scheduler, model: string, version: string): Promise<ModelMetadataResponse> {
  const graph = graphOf(model, version);
  if (graph) {
    const entry = entryDeployments(await servedInferenceGraph(s, graph)) ?? [];
    const entries = await Promise.all(entry.map(async (name) => (await signatureOf(s, await getDeployment(s, name))).inputs));
    const same = entries.every((inputs) => sameTensors(inputs, entries[0]!));
    return create(ModelMetadataResponseSchema, { name: model, versions: [], platform: GRAPH_PLATFORM, inputs: same ? (entries[0] ?? []) : [], outputs: [] });
  }
  const d = await deploymentOf(s, model, version);
  const { inputs, outputs } = await signatureOf(s, d);
  return create(ModelMetadataResponseSchema, { name: model, versions: [versionNumber(d.modelVersion)], platform: "onnxruntime_onnx", inputs, outputs });
}

function sameTensors(a: ModelMetadataResponse_TensorMetadata[], b: ModelMetadataResponse_TensorMetadata[]): boolean {
  return a.length === b.length && a.every((t, i) => equalMessages(ModelMetadataResponse_TensorMetadataSchema, t, b[i]!));
}

/** The tensors of the model a deployment serves, as the protocol names them. */
async function signatureOf(s: Scheduler, d: Deployment): Promise<{ inputs: ModelMetadataResponse_TensorMetadata[]; outputs: ModelMetadataResponse_TensorMetadata[] }> {
  const v = await s.registry.getModelVersion({ name: d.modelVersion }).then((r) => r.version!, rethrowRemote);
  const tensor = (t: ValueInfo) =>
    create(ModelMetadataResponse_TensorMetadataSchema, {
      name: t.name,
      datatype: datatypeOfElement(t.elementType),
      shape: t.shape.map((dim) => (dim.value.case === "size" ? dim.value.value : -1n)),
    });
  return { inputs: (v.signature?.inputs ?? []).map(tensor), outputs: (v.signature?.outputs ?? []).map(tensor) };
}

/** The deployment a model name names; a version given must be the one it serves. */
async function deploymentOf(s: Scheduler, model: string, version: string): Promise<Deployment> {
  const d = await getDeployment(s, deploymentName(model));
  if (version && version !== versionNumber(d.modelVersion)) {
    throw notFound("MODEL_VERSION_NOT_SERVED", `model ${model} serves version ${versionNumber(d.modelVersion)}, not ${printable(version)}`, { deployment: d.name });
  }
  return d;
}

export function deploymentName(model: string): string {
  if (!model) throw invalidArgument("MODEL_NAME_REQUIRED", "the model name (a deployment's id) is required");
  return model.startsWith("projects/") ? model : `${DEFAULT_PROJECT}/deployments/${model}`;
}

/** projects/p/models/m/versions/3 → "3". */
function versionNumber(modelVersion: string): string {
  return modelVersion.slice(modelVersion.lastIndexOf("/") + 1);
}
