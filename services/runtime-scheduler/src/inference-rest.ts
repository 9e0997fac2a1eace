import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { invalidArgument, notFound, printable, unavailable, type HttpAccess, type HttpRequest, type HttpRoute } from "@kiln/core";
import {
  InferTensorContentsSchema,
  ModelInferRequestSchema,
  type InferParameter,
  type InferParameterSchema,
  type InferTensorContents,
  type ModelInferResponse,
} from "@kiln/proto/inference/grpc_predict_v2_pb";
import type { Scheduler } from "./job-store.js";
import { modelInfer, modelMetadata, modelReady } from "./inference-protocol.js";
import { numericContentsField } from "./oip-tensors.js";
import { graphInPath, jsonRoute, modelAccess, pathPart, readJson, type Json } from "./inference-rest-json.js";

/**
 * The Open Inference Protocol's HTTP/REST form (KServe V2, as `curl` and the REST clients
 * of Triton, KServe and Seldon call it), beside its gRPC form on the same port:
 * GET /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}[/versions/{v}][/ready],
 * POST /v2/models/{name}[/versions/{v}]/infer with tensors as JSON (`data` flat or nested,
 * row-major); {name} is also an inference graph's, `inferenceGraphs/{id}`. Errors are
 * `{"error": "..."}` with the HTTP status of their code.
 */
export function inferenceRestRoute(s: Scheduler, version: string): HttpRoute {
  return jsonRoute(s, "/v2", restAccess, (rest, req) => answer(s, version, rest, req));
}

async function answer(s: Scheduler, version: string, rest: string, req: HttpRequest): Promise<Json> {
  const post = req.method === "POST";
  if (!post && (rest === "" || rest === "/")) return { name: "kiln", version, extensions: [] };
  if (!post && rest === "/health/live") return { live: true };
  if (!post && rest === "/health/ready") return { ready: true };
  const route = modelRoute(rest);
  if (!route) throw notARoute(rest);
  const { model, modelVersion, action } = route;
  // Inference is a POST, the rest GETs.
  if (post !== (action === "/infer")) throw notARoute(rest);
  if (post) return inferJson(await modelInfer(s, inferRequest(await readJson(req, "`inputs`"), model, modelVersion)));
  if (action === "/ready") {
    const ready = await modelReady(s, model, modelVersion);
    if (!ready) throw unavailable("DEPLOYMENT_NOT_READY", `model ${model} is not ready: no executor has it loaded (a graph: one of its deployments)`);
    return { name: model, ready };
  }
  const meta = await modelMetadata(s, model, modelVersion);
  const tensor = (t: (typeof meta.inputs)[number]) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(Number) });
  return { name: meta.name, versions: meta.versions, platform: meta.platform, inputs: meta.inputs.map(tensor), outputs: meta.outputs.map(tensor) };
}

/**
 * The server's own health and metadata are open, as probes call them; a model's, inference
 * included, need read in the deployment's project, "projects/p/deployments/d" or the default one.
 */
function restAccess(rest: string): HttpAccess {
  return rest.startsWith("/models/") ? modelAccess(() => modelRoute(rest)?.model) : { role: "open" };
}

/** `/models/{name}[/versions/{v}][/ready|/infer]`: a deployment's id (or full name, percent-encoded). */
const DEPLOYMENT_ROUTE = /^\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/;
/** The model a path names, its version and the action asked; a deployment's route comes first (a graph named "ready" or "infer" is reached percent-encoded). */
function modelRoute(rest: string): { model: string; modelVersion: string; action: string } | undefined {
  const d = DEPLOYMENT_ROUTE.exec(rest);
  if (d) return { model: pathPart(d[1]!), modelVersion: d[2] ? pathPart(d[2]) : "", action: d[3] ?? "" };
  const g = /^\/models\/(.+?)(\/ready|\/infer)?$/.exec(rest);
  if (!g) return undefined;
  const graph = graphInPath(g[1]!);
  return graph === undefined ? undefined : { model: graph, modelVersion: "", action: g[2] ?? "" };
}

function notARoute(rest: string) {
  return notFound("NOT_A_ROUTE", `no inference route for that method at /v2${printable(rest)}: GET /v2/models/{name}[/ready], POST /v2/models/{name}/infer`);
}

/** A V2 JSON inference request as the gRPC message: each input's `data` (flat or nested) in its datatype's contents field. */
function inferRequest(body: Record<string, Json>, modelName: string, modelVersion: string) {
  const inputs = body.inputs;
  if (!Array.isArray(inputs)) throw invalidArgument("INPUT_REQUIRED", "the request has no `inputs` array");
  return create(ModelInferRequestSchema, {
    modelName,
    modelVersion,
    id: typeof body.id === "string" ? body.id : "",
    parameters: parameters(body.parameters),
    inputs: inputs.map((input, i) => {
      if (typeof input !== "object" || input === null || Array.isArray(input)) throw invalidArgument("INVALID_INPUT", `inputs[${i}] is not an object`);
      const { name, datatype, shape, data } = input;
      if (typeof name !== "string" || typeof datatype !== "string" || !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw invalidArgument("INVALID_INPUT", `inputs[${i}] needs a name, a datatype and a shape of whole numbers`);
      }
      return { name, datatype, shape: shape.map((d) => BigInt(d as number)), parameters: parameters(input.parameters), contents: contents(flatten(data), datatype.toUpperCase(), name) };
    }),
    outputs: Array.isArray(body.outputs) ? body.outputs.map((o) => ({ name: typeof o === "object" && o !== null && !Array.isArray(o) && typeof o.name === "string" ? o.name : "" })) : [],
  });
}

function parameters(value: Json | undefined): Record<string, MessageInitShape<typeof InferParameterSchema>> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const out: Record<string, MessageInitShape<typeof InferParameterSchema>> = {};
  for (const [key, v] of Object.entries(value)) {
    if (typeof v === "boolean") out[key] = { parameterChoice: { case: "boolParam", value: v } };
    else if (typeof v === "number" && Number.isInteger(v)) out[key] = { parameterChoice: { case: "int64Param", value: BigInt(v) } };
    else if (typeof v === "string") out[key] = { parameterChoice: { case: "stringParam", value: v } };
  }
  return out;
}

function flatten(data: Json | undefined): Json[] {
  if (!Array.isArray(data)) throw invalidArgument("INVALID_INPUT", "an input's `data` is an array (flat or nested, row-major)");
  return data.flat(Infinity as 1) as Json[];
}

function contents(values: Json[], datatype: string, name: string): InferTensorContents {
  const field = numericContentsField(datatype);
  if (field) {
    if (!values.every((v) => typeof v === "number")) throw invalidArgument("INVALID_INPUT", `input "${name}" is ${datatype}: its data are numbers`);
    const wide = field === "int64Contents" || field === "uint64Contents";
    return create(InferTensorContentsSchema, { [field]: wide ? (values as number[]).map((v) => BigInt(Math.trunc(v))) : values });
  }
  if (datatype === "BOOL") return create(InferTensorContentsSchema, { boolContents: values.map((v) => v === true || v === 1) });
  if (datatype === "BYTES") return create(InferTensorContentsSchema, { bytesContents: values.map((v) => new TextEncoder().encode(String(v))) });
  // Anything else the gRPC form refuses by its datatype (UNSUPPORTED_DATATYPE).
  return create(InferTensorContentsSchema);
}

function inferJson(res: ModelInferResponse): Json {
  return {
    model_name: res.modelName,
    model_version: res.modelVersion,
    ...(res.id ? { id: res.id } : {}),
    outputs: res.outputs.map((o) => ({
      name: o.name,
      datatype: o.datatype,
      shape: o.shape.map(Number),
      ...(Object.keys(o.parameters).length ? { parameters: Object.fromEntries(Object.entries(o.parameters).map(([k, p]) => [k, parameterJson(p)])) } : {}),
      data: dataOf(o.contents),
    })),
  };
}

function parameterJson(p: InferParameter): Json {
  const v = p.parameterChoice.value;
  return typeof v === "bigint" ? Number(v) : (v ?? null);
}

function dataOf(c: InferTensorContents | undefined): Json[] {
  if (!c) return [];
  for (const values of [c.fp32Contents, c.fp64Contents, c.intContents, c.uintContents, c.boolContents]) if (values.length) return values;
  for (const values of [c.int64Contents, c.uint64Contents]) if (values.length) return values.map(Number);
  return c.bytesContents.map((b) => new TextDecoder().decode(b));
}

