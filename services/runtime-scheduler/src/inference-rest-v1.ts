import { create } from "@bufbuild/protobuf";
import { DEFAULT_PROJECT, invalidArgument, notFound, printable, type HttpAccess, type HttpRequest, type HttpRoute } from "@kiln/core";
import { DataFormatError, decodeChunk, jsonTable, tableToIpc } from "@kiln/data";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { ListDeploymentsRequestSchema } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { ListInferenceGraphsRequestSchema } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import type { Table } from "apache-arrow";
import { listDeployments } from "./deployments.js";
import { inferenceGraphAnswer } from "./inference-graph-run.js";
import { listInferenceGraphs } from "./inference-graphs.js";
import { deploymentName, kindInGraph, kindNamed, modelReady } from "./inference-protocol.js";
import { graphOf } from "./inference-protocol-graphs.js";
import { graphInPath, jsonRoute, modelAccess, pathPart, readJson, type Json } from "./inference-rest-json.js";
import type { Scheduler } from "./job-store.js";
import { askDeployment } from "./online-predict.js";

/** What a V1 request may ask for with its `parameters.kind` (explanations have their own protocol there). */
const V1_KINDS = new Set([JobKind.PREDICT, JobKind.PREDICT_PROBA, JobKind.TRANSFORM]);
/** Deployments and graphs listed a page at a time. */
const PAGE = 500;

/**
 * KServe's V1 protocol (its sklearn and xgboost servers' `instances` in, `predictions`
 * out), beside the Open Inference Protocol: GET /v1/models, GET /v1/models/{name}
 * (`{"name", "ready"}`), POST /v1/models/{name}:predict. {name} is a deployment's id (its
 * full name percent-encoded) or an inference graph's, `inferenceGraphs/{id}`.
 */
export function inferenceV1Route(s: Scheduler): HttpRoute {
  return jsonRoute(s, "/v1", v1Access, (rest, req) => answer(s, rest, req));
}

async function answer(s: Scheduler, rest: string, req: HttpRequest): Promise<Json> {
  const post = req.method === "POST";
  if (!post && (rest === "/models" || rest === "/models/")) return { models: await modelsOf(s) };
  const route = v1Route(rest);
  if (!route || post !== (route.verb === "predict")) throw notARoute(rest);
  if (!post) return { name: route.model, ready: await modelReady(s, route.model, "") };
  return { predictions: predictions(await predict(s, route.model, await readJson(req, '`instances`: {"instances": [...]}'))) };
}

function v1Access(rest: string): HttpAccess {
  return modelAccess(() => (rest.startsWith("/models/") ? v1Route(rest)?.model : undefined));
}

/** `/models/{name}[:predict]`: a deployment's id (or full name, percent-encoded), or an inference graph's name as path segments. */
function v1Route(rest: string): { model: string; verb: string } | undefined {
  const m = /^\/models\/([^:]+?)(?::([a-z]+))?$/.exec(rest);
  if (!m) return undefined;
  const [name, verb] = [m[1]!, m[2] ?? ""];
  if (!name.includes("/")) return { model: pathPart(name), verb };
  const graph = graphInPath(name);
  return graph === undefined ? undefined : { model: graph, verb };
}

/** The rows `instances` holds (arrays of features in order, or objects of named columns), through the deployment or the graph. */
async function predict(s: Scheduler, model: string, body: Record<string, Json>): Promise<Table> {
  const { instances, parameters } = body;
  if (!Array.isArray(instances) || instances.length === 0) {
    throw invalidArgument("INSTANCES_REQUIRED", 'the request is {"instances": [...]}: rows as arrays of features in order, or objects of named columns');
  }
  const asked = typeof parameters === "object" && parameters !== null && !Array.isArray(parameters) ? parameters.kind : undefined;
  if (asked !== undefined && typeof asked !== "string") throw invalidArgument("INVALID_KIND", "parameters.kind is a string: predict, predict_proba or transform");
  const { table, positional } = rowsOf(instances);
  const graph = graphOf(model, "");
  if (graph) {
    if (asked !== undefined) throw kindInGraph(model);
    return inferenceGraphAnswer(s, graph, table, positional);
  }
  const kind = asked === undefined ? JobKind.PREDICT : kindNamed(asked);
  if (!V1_KINDS.has(kind)) throw invalidArgument("INVALID_KIND", `parameters.kind "${printable(asked!)}" is not one of predict, predict_proba, transform`);
  const answer = await askDeployment(s, deploymentName(model), { rows: tableToIpc(table), kind, positional });
  return decodeChunk(answer.arrowIpc);
}

function rowsOf(instances: Json[]): { table: Table; positional: boolean } {
  try {
    return jsonTable(instances);
  } catch (e) {
    if (e instanceof DataFormatError) throw invalidArgument("INVALID_INPUT_DATA", `instances ${e.message}`);
    throw e;
  }
}

/** An answer of one column as its values; of several (probabilities, components, a graph's side by side), each row's values in the columns' order. */
function predictions(table: Table): Json[] {
  const columns = table.schema.fields.map((f) => table.getChild(f.name)!);
  const value = (v: unknown): Json => (typeof v === "bigint" ? Number(v) : ((v ?? null) as Json));
  return Array.from({ length: table.numRows }, (_, i) => (columns.length === 1 ? value(columns[0]!.get(i)) : columns.map((c) => value(c.get(i)))));
}

/** The default project's deployments by id, then its graphs as `inferenceGraphs/{id}`. */
async function modelsOf(s: Scheduler): Promise<string[]> {
  const names: string[] = [];
  for (let pageToken = ""; ; ) {
    const page = await listDeployments(s, create(ListDeploymentsRequestSchema, { parent: DEFAULT_PROJECT, pageSize: PAGE, pageToken }));
    names.push(...page.deployments.map((d) => d.name.slice(d.name.lastIndexOf("/") + 1)));
    if (!(pageToken = page.nextPageToken)) break;
  }
  for (let pageToken = ""; ; ) {
    const page = await listInferenceGraphs(s, create(ListInferenceGraphsRequestSchema, { parent: DEFAULT_PROJECT, pageSize: PAGE, pageToken }));
    names.push(...page.inferenceGraphs.map((g) => `inferenceGraphs/${g.name.slice(g.name.lastIndexOf("/") + 1)}`));
    if (!(pageToken = page.nextPageToken)) break;
  }
  return names;
}

function notARoute(rest: string) {
  return notFound("NOT_A_ROUTE", `no inference route for that method at /v1${printable(rest)}: GET /v1/models, GET /v1/models/{name}, POST /v1/models/{name}:predict`);
}
