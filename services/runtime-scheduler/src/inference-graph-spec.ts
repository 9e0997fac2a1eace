import { create } from "@bufbuild/protobuf";
import { invalidArgument, isId, printable } from "@kiln/core";
import { FilterSyntaxError, parseFilter } from "@kiln/data";
import {
  Combine,
  InferenceGraphNodeSchema,
  InferenceGraphStepSchema,
  RouterType,
  StepData,
  StepDependency,
  type InferenceGraphNode,
  type InferenceGraphStep,
} from "@kiln/proto/kiln/runtime/v1/inference_graphs_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { parseDeploymentName } from "./deployments.js";

export const ROOT_NODE = "root";
const MAX_NODES = 32;
const MAX_STEPS = 32;
const NODE_NAME = /^[A-Za-z0-9_-]{1,63}$/;
const STEP_KINDS = new Set([JobKind.PREDICT, JobKind.PREDICT_PROBA, JobKind.TRANSFORM]);

/**
 * The graph's nodes checked and completed (deployment ids made names of the project, step
 * names defaulted), and the deployments they name. Every problem is InvalidArgument
 * INVALID_GRAPH naming the node and step.
 */
export function checkedNodes(project: string, given: Record<string, InferenceGraphNode>): { nodes: Record<string, InferenceGraphNode>; deployments: string[] } {
  const names = Object.keys(given);
  if (!names.length) throw invalid(`nodes is required: at least the node "${ROOT_NODE}", which takes the request`);
  if (names.length > MAX_NODES) throw invalid(`a graph has at most ${MAX_NODES} nodes, got ${names.length}`);
  if (!given[ROOT_NODE]) throw invalid(`there is no node "${ROOT_NODE}": it takes the request`);
  const nodes: Record<string, InferenceGraphNode> = {};
  const deployments = new Set<string>();
  for (const name of names.sort()) {
    if (!NODE_NAME.test(name)) throw invalid(`node name "${printable(name)}": use 1 to 63 letters, digits, "-" or "_"`);
    nodes[name] = checkedNode(project, name, given[name]!, given, deployments);
  }
  checkReach(nodes);
  return { nodes, deployments: [...deployments] };
}

function checkedNode(project: string, name: string, node: InferenceGraphNode, all: Record<string, InferenceGraphNode>, deployments: Set<string>): InferenceGraphNode {
  const where = `node ${name}`;
  if (!RouterType[node.routerType] || node.routerType === RouterType.UNSPECIFIED) {
    throw invalid(`${where}: router_type is required: SEQUENCE, SWITCH, ENSEMBLE or SPLITTER`);
  }
  if (node.steps.length < 1 || node.steps.length > MAX_STEPS) throw invalid(`${where}: a node has 1 to ${MAX_STEPS} steps, got ${node.steps.length}`);
  if (node.combine !== Combine.UNSPECIFIED && node.routerType !== RouterType.ENSEMBLE) throw invalid(`${where}: combine is an ENSEMBLE's`);
  if (!Combine[node.combine]) throw invalid(`${where}: combine ${node.combine} is not MEAN or VOTE`);
  const seen = new Set<string>();
  const steps = node.steps.map((step, i) => {
    const checked = checkedStep(project, node.routerType, `${where}, step ${step.name || i + 1}`, step, all, deployments);
    if (seen.has(checked.name)) throw invalid(`${where}: two steps are named "${checked.name}" (name them apart with name)`);
    seen.add(checked.name);
    return checked;
  });
  if (node.routerType === RouterType.SPLITTER) {
    const total = steps.reduce((sum, s) => sum + s.weight, 0);
    if (total !== 100) throw invalid(`${where}: a SPLITTER's weights add up to 100, got ${total}`);
  }
  if (node.routerType === RouterType.SEQUENCE && steps[steps.length - 1]!.dependency === StepDependency.SOFT) {
    throw invalid(`${where}: the last step of a SEQUENCE gives the node's answer, so it cannot be SOFT`);
  }
  if (node.routerType === RouterType.SWITCH) {
    const open = steps.findIndex((s) => !s.condition);
    if (open >= 0 && open < steps.length - 1) throw invalid(`${where}: step ${steps[open]!.name} has no condition, so it takes every row left and step ${steps[open + 1]!.name} would get none: put it last`);
  }
  return create(InferenceGraphNodeSchema, { routerType: node.routerType, combine: node.combine, steps });
}

function checkedStep(
  project: string,
  router: RouterType,
  where: string,
  step: InferenceGraphStep,
  all: Record<string, InferenceGraphNode>,
  deployments: Set<string>,
): InferenceGraphStep {
  const out = create(InferenceGraphStepSchema, { kind: step.kind, data: step.data, condition: step.condition, weight: step.weight, dependency: step.dependency });
  let id: string;
  if (step.target.case === "deployment") {
    const deployment = step.target.value.includes("/") ? step.target.value : `${project}/deployments/${step.target.value}`;
    id = parseDeploymentName(deployment).id;
    if (!deployment.startsWith(`${project}/`)) throw invalid(`${where}: deployment ${printable(deployment)} is not of the graph's project ${project}`);
    deployments.add(deployment);
    out.target = { case: "deployment", value: deployment };
    out.kind = step.kind || JobKind.PREDICT;
    if (!STEP_KINDS.has(out.kind)) throw invalid(`${where}: kind is PREDICT, PREDICT_PROBA or TRANSFORM, got ${JobKind[step.kind] ?? step.kind}`);
  } else if (step.target.case === "node") {
    id = step.target.value;
    if (!all[id]) throw invalid(`${where}: there is no node "${printable(id)}"`);
    if (step.kind !== JobKind.UNSPECIFIED) throw invalid(`${where}: kind is a deployment step's; node ${id}'s steps say theirs`);
    out.target = { case: "node", value: id };
  } else {
    throw invalid(`${where}: a step is a deployment or a node`);
  }
  out.name = step.name || id;
  if (!isId(out.name)) throw invalid(`${where}: step name "${printable(out.name)}": use 1 to 128 letters, digits, "_", "-" or "."`);
  if (step.data !== StepData.UNSPECIFIED && router !== RouterType.SEQUENCE) throw invalid(`${where}: data is a SEQUENCE step's`);
  if (!StepData[step.data]) throw invalid(`${where}: data ${step.data} is not REQUEST or RESPONSE_AND_REQUEST`);
  if (step.condition && router !== RouterType.SWITCH) throw invalid(`${where}: condition is a SWITCH step's`);
  if (step.condition) checkCondition(where, step.condition);
  if (router === RouterType.SPLITTER) {
    if (step.weight < 1 || step.weight > 100) throw invalid(`${where}: weight is 1 to 100, got ${step.weight}`);
  } else if (step.weight) throw invalid(`${where}: weight is a SPLITTER step's`);
  if (!StepDependency[step.dependency]) throw invalid(`${where}: dependency ${step.dependency} is not SOFT`);
  if (step.dependency === StepDependency.SOFT && router !== RouterType.SEQUENCE && router !== RouterType.ENSEMBLE) {
    throw invalid(`${where}: only SEQUENCE and ENSEMBLE steps can be SOFT (a SWITCH's or SPLITTER's rows would have no answer)`);
  }
  return out;
}

function checkCondition(where: string, condition: string): void {
  try {
    parseFilter(condition);
  } catch (e) {
    if (e instanceof FilterSyntaxError) throw invalid(`${where}: condition ${printable(JSON.stringify(condition))}: ${e.message}`);
    throw e;
  }
}

/** Every node is reached from the root, and none is reached again on its own path (which would never end). */
function checkReach(nodes: Record<string, InferenceGraphNode>): void {
  const done = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (path.includes(name)) throw invalid(`node ${name} is reached again from itself (${[...path, name].join(" → ")})`);
    if (done.has(name)) return;
    for (const step of nodes[name]!.steps) if (step.target.case === "node") visit(step.target.value, [...path, name]);
    done.add(name);
  };
  visit(ROOT_NODE, []);
  const unreached = Object.keys(nodes).filter((n) => !done.has(n));
  if (unreached.length) throw invalid(`node ${unreached.join(", ")} is not reached from "${ROOT_NODE}"`);
}

function invalid(message: string) {
  return invalidArgument("INVALID_GRAPH", message);
}
