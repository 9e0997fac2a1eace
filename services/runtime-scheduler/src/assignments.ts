import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { DeploymentAssignmentSchema, ServedState, type DeploymentAssignment, type Executor } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Deployment } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { deploymentRoute } from "./deployments.js";
import { aliveExecutors } from "./executors.js";
import type { Scheduler } from "./job-store.js";

/**
 * The deployments an executor should serve. Every scheduler works out the same answer from
 * the deployments (as this process read them within half a heartbeat) and the executors
 * alive, so nothing about who serves what is stored:
 * of the executors having a deployment's labels, those that already serve it come first (a
 * new executor does not take a model from one that has it loaded), then the rest in an order
 * fixed per deployment (rendezvous hashing, which spreads deployments over executors and
 * moves few when one comes or goes); the first `replicas` serve it.
 */
export async function deploymentsServedBy(s: Scheduler, executor: Executor): Promise<DeploymentAssignment[]> {
  const all = await s.deployments.get();
  if (all.length === 0) return [];
  const alive = await aliveExecutors(s);
  if (!alive.some((e) => e.name === executor.name)) alive.push(executor);
  const assigned: DeploymentAssignment[] = [];
  for (const deployment of all) {
    if (!chosenExecutors(deployment, alive).includes(executor.name)) continue;
    const route = deploymentRoute(deployment.name);
    assigned.push(
      create(DeploymentAssignmentSchema, {
        deployment: deployment.name,
        modelVersion: deployment.modelVersion,
        subject: route.subject,
        queue: route.queue,
        maxBatchRows: deployment.maxBatchRows,
        maxBatchDelay: deployment.maxBatchDelay,
        canaryModelVersion: deployment.canaryModelVersion,
        canaryTrafficPercent: deployment.canaryTrafficPercent,
        requestLog: deployment.requestLog,
        explainer: deployment.explainer,
      }),
    );
  }
  return assigned;
}

/** The names of the executors that serve a deployment, out of those alive. */
export function chosenExecutors(deployment: Deployment, alive: Executor[]): string[] {
  const able = alive.filter((e) => deployment.requiredLabels.every((l) => e.labels.includes(l)));
  const ranked = able.map((e) => ({ name: e.name, serving: servesDeployment(e, deployment.name), weight: weight(deployment.name, e.name) }));
  ranked.sort((a, b) => Number(b.serving) - Number(a.serving) || (a.weight < b.weight ? 1 : a.weight > b.weight ? -1 : 0));
  return ranked.slice(0, deployment.replicas).map((r) => r.name);
}

/** Whether the executor reports the deployment loaded and answering (any version of it). */
export function servesDeployment(executor: Executor, deployment: string): boolean {
  return executor.serving.some((x) => x.deployment === deployment && x.state === ServedState.READY);
}

function weight(deployment: string, executor: string): string {
  return createHash("sha256").update(`${deployment}\n${executor}`).digest("hex");
}
