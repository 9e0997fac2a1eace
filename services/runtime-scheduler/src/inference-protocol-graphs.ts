import { Code } from "@connectrpc/connect";
import { DEFAULT_PROJECT, isKilnError, notFound, printable } from "@kiln/core";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { RouterType, StepData, type InferenceGraph, type InferenceGraphStep } from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { getDeployment } from "./deployments.js";
import { ROOT_NODE } from "./inference-graph-spec.js";
import type { Scheduler } from "./job-store.js";

/**
 * The inference graph an Open Inference Protocol model name names: `inferenceGraphs/{id}`
 * (the default project's) or `projects/{p}/inferenceGraphs/{id}`; undefined for a
 * deployment. A graph has no versions.
 */
export function graphOf(model: string, version: string): string | undefined {
  const graph = model.startsWith("inferenceGraphs/") ? `${DEFAULT_PROJECT}/${model}` : /^projects\/[^/]+\/inferenceGraphs\//.test(model) ? model : undefined;
  if (graph && version) throw notFound("MODEL_VERSION_NOT_SERVED", `${printable(model)} is an inference graph, which has no versions (asked for ${printable(version)})`, { inference_graph: graph });
  return graph;
}

/** Every deployment a graph's steps name, each once (undefined for one deleted since). */
export function deploymentsOf(s: Scheduler, graph: InferenceGraph): Promise<(Deployment | undefined)[]> {
  const steps = Object.values(graph.nodes).flatMap((node) => node.steps);
  return Promise.all([...new Set(steps.flatMap(deploymentOfStep))].map((name) => getDeployment(s, name).catch(unlessGone)));
}

/**
 * The deployments that read the request's rows themselves: a sequence's first step (and
 * those given the node's rows again), every step of the other routers, through nested
 * nodes. Undefined when a switch reads them: its conditions read columns by name, which
 * no model's tensors say.
 */
export function entryDeployments(graph: InferenceGraph, node = ROOT_NODE, seen = new Set<string>()): string[] | undefined {
  const n = graph.nodes[node];
  if (!n || seen.has(node)) return [];
  if (n.routerType === RouterType.SWITCH) return undefined;
  seen.add(node);
  const steps = n.routerType === RouterType.SEQUENCE ? n.steps.filter((step, i) => i === 0 || step.data === StepData.REQUEST) : n.steps;
  const entries: string[] = [];
  for (const step of steps) {
    const more = step.target.case === "node" ? entryDeployments(graph, step.target.value, seen) : deploymentOfStep(step);
    if (!more) return undefined;
    entries.push(...more);
  }
  return [...new Set(entries)];
}

function deploymentOfStep(step: InferenceGraphStep): string[] {
  return step.target.case === "deployment" ? [step.target.value] : [];
}

function unlessGone(e: unknown): undefined {
  if (isKilnError(e, Code.NotFound)) return undefined;
  throw e;
}
