import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { alreadyExists, checkId, invalidArgument, isKilnError, notFound, parseParent } from "@kiln/core";
import {
  InferenceGraphEventSchema,
  InferenceGraphSchema,
  type CreateInferenceGraphRequest,
  type InferenceGraph,
  type ListInferenceGraphsRequest,
  type UpdateInferenceGraphRequest,
} from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { scanPage } from "@kiln/storage";
import { readDeployment } from "./deployments.js";
import { checkedNodes } from "./inference-graph-spec.js";
import type { SchedulerDeps } from "./deps.js";
import { nowOf, type Scheduler } from "./job-store.js";
import { parseResourceName } from "./names.js";
import { protoRecords } from "./proto-records.js";
import { changeUnderRevision, checkUpdateMask } from "./updates.js";

const MUTABLE = new Set(["nodes", "description"]);
const MAX_DESCRIPTION = 1024;

const records = protoRecords("runtime_inference_graphs", InferenceGraphSchema);
const graphs = records.of;

export function parseInferenceGraphName(name: string): { project: string; id: string } {
  return parseResourceName(name, "inferenceGraphs");
}

export async function readInferenceGraph(s: SchedulerDeps, name: string): Promise<{ graph: InferenceGraph; rev: number }> {
  parseInferenceGraphName(name);
  const stored = await graphs(s).get(name);
  if (!stored) throw notFound("INFERENCE_GRAPH_NOT_FOUND", `inference graph ${name} does not exist`, { inference_graph: name });
  return { graph: records.decode(stored.value), rev: stored.rev };
}

/**
 * The graph as predictions run it: read at most every second by this scheduler (another
 * scheduler's change reaches it within that), at once after its own.
 */
export function servedInferenceGraph(s: Scheduler, name: string): Promise<InferenceGraph> {
  parseInferenceGraphName(name);
  return s.inferenceGraphs.get(name);
}

export const SERVED_GRAPH_MAX_AGE_MS = 1_000;

export async function createInferenceGraph(s: Scheduler, req: CreateInferenceGraphRequest, caller = ""): Promise<InferenceGraph> {
  const project = parseParent(req.parent);
  if (!req.inferenceGraphId) throw invalidArgument("INFERENCE_GRAPH_ID_REQUIRED", "inference_graph_id is required");
  const name = `${project}/inferenceGraphs/${checkId(req.inferenceGraphId, "inference_graph")}`;
  const now = timestampFromDate(nowOf(s));
  const graph = create(InferenceGraphSchema, { name, createTime: now, updateTime: now, creator: caller, updater: caller });
  await applySpec(s, project, graph, req.inferenceGraph ?? create(InferenceGraphSchema), MUTABLE);
  try {
    await graphs(s).create(name, records.encode(graph));
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("INFERENCE_GRAPH_EXISTS", `inference graph ${name} already exists`, { inference_graph: name });
    throw e;
  }
  s.inferenceGraphs.forget(name);
  s.logger.info({ inferenceGraph: name }, "inference graph created");
  await publishGraphEvent(s, graph, "created");
  return graph;
}

export async function listInferenceGraphs(s: Scheduler, req: ListInferenceGraphsRequest): Promise<{ inferenceGraphs: InferenceGraph[]; nextPageToken: string }> {
  const project = parseParent(req.parent);
  const page = await scanPage(graphs(s), { prefix: `${project}/inferenceGraphs/`, pageSize: req.pageSize, pageToken: req.pageToken, filterText: "" });
  return { inferenceGraphs: page.items.map((r) => records.decode(r)), nextPageToken: page.nextPageToken };
}

export async function updateInferenceGraph(s: Scheduler, req: UpdateInferenceGraphRequest, caller = ""): Promise<InferenceGraph> {
  if (!req.inferenceGraph) throw invalidArgument("INFERENCE_GRAPH_REQUIRED", "inference_graph is required");
  const { project } = parseInferenceGraphName(req.inferenceGraph.name);
  checkUpdateMask(req.updateMask, MUTABLE);
  const given = req.inferenceGraph;
  const graph = await changeUnderRevision(
    async () => {
      const { graph, rev } = await readInferenceGraph(s, given.name);
      return { value: graph, rev };
    },
    (graph, rev) => graphs(s).update(graph.name, records.encode(graph), rev),
    async (graph) => {
      await applySpec(s, project, graph, given, new Set(req.updateMask));
      graph.updateTime = timestampFromDate(nowOf(s));
      graph.updater = caller;
    },
  );
  s.inferenceGraphs.forget(graph.name);
  await publishGraphEvent(s, graph, "updated");
  return graph;
}

export async function deleteInferenceGraph(s: Scheduler, name: string): Promise<void> {
  const { graph, rev } = await readInferenceGraph(s, name);
  if (!(await graphs(s).delete(name, rev))) throw notFound("INFERENCE_GRAPH_NOT_FOUND", `inference graph ${name} does not exist`, { inference_graph: name });
  s.inferenceGraphs.forget(name);
  s.graphStats.forget(name);
  await publishGraphEvent(s, graph, "deleted");
}

/** For webhooks (inference_graph.created, updated, deleted); a failed publish is logged, not the call's failure. */
async function publishGraphEvent(s: Scheduler, graph: InferenceGraph, event: "created" | "updated" | "deleted"): Promise<void> {
  const data = toBinary(InferenceGraphEventSchema, create(InferenceGraphEventSchema, { inferenceGraph: graph, time: timestampFromDate(nowOf(s)) }));
  const msgId = `${graph.name}:${event}:${graph.updateTime?.seconds ?? 0}.${graph.updateTime?.nanos ?? 0}`;
  await s.bus.publish(`kiln.runtime.v1.inference_graph.${event}`, data, { msgId, confirm: false }).catch((e: unknown) => {
    s.logger.warn({ err: e, inferenceGraph: graph.name, event }, "could not publish an inference graph event");
  });
}

/** Copies the fields of `fields` from `given` into `into`, checked; the deployments named must exist. */
async function applySpec(s: Scheduler, project: string, into: InferenceGraph, given: InferenceGraph, fields: Set<string>): Promise<void> {
  if (fields.has("description")) {
    if (given.description.length > MAX_DESCRIPTION) throw invalidArgument("INVALID_DESCRIPTION", `inference_graph.description is at most ${MAX_DESCRIPTION} characters`);
    into.description = given.description;
  }
  if (fields.has("nodes")) {
    const { nodes, deployments } = checkedNodes(project, given.nodes);
    for (const deployment of deployments) await readDeployment(s, deployment);
    into.nodes = nodes;
  }
}
