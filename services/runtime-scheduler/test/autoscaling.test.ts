import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { create, fromJson } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { createLogger, errorInterceptor } from "@kiln/core";
import { AutoscalingSchema, DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { ServedState } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { requestRate, scaleTo, startAutoscaler } from "../src/autoscaler.js";
import { wantedReplicas } from "../src/autoscaling-spec.js";
import { createDeploymentService } from "../src/service.js";
import { failure, makeOnnxModel, PROJECT, startHarness, uniqueName, type Harness } from "./harness.js";

const HEARTBEAT_MS = 100;

async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("autoscaling: a deployment's replicas follow the requests a second it answers", () => {
  let h: Harness;
  let scaler: { stop(): Promise<void> };
  let deployments: ReturnType<typeof createClient<typeof DeploymentService>>;
  beforeEach(async () => {
    h = await startHarness({ settings: { heartbeatMs: HEARTBEAT_MS } });
    scaler = startAutoscaler(h.scheduler);
    const transport = createRouterTransport((router) => router.service(DeploymentService, createDeploymentService(h.scheduler)), {
      router: { interceptors: [errorInterceptor(createLogger("test", "silent"))] },
    });
    deployments = createClient(DeploymentService, transport);
  });
  afterEach(async () => {
    await scaler.stop();
    await h.close();
  });

  /** An executor's heartbeat, serving these deployments with these request counts; the deployments it is to serve. */
  const beat = async (name: string, serving: { deployment: string; modelVersion: string; requests: number }[]) => {
    const res = await h.executor.heartbeat({
      executor: {
        name: `executors/${name}`,
        slots: 1,
        serving: serving.map((s) => ({ deployment: s.deployment, modelVersion: s.modelVersion, state: ServedState.READY, stats: { requests: BigInt(s.requests) } })),
      },
    });
    return res.deployments.map((a) => a.deployment);
  };

  it("scales up at once when the load wants more, and down once it has wanted fewer for the delay", async () => {
    const model = await makeOnnxModel(h);
    const autoscaling = { minReplicas: 1, maxReplicas: 3, targetRequestsPerSecond: 10, scaleDownDelay: durationFromMs(600) };
    const d = (await deployments.createDeployment({ parent: PROJECT, deploymentId: uniqueName("auto"), deployment: { model, autoscaling } })).deployment!;
    expect(d).toMatchObject({ replicas: 1, autoscaling: { minReplicas: 1, maxReplicas: 3, targetRequestsPerSecond: 10 } });
    const executors = ["a", "b", "c"];
    // Every executor beats each heartbeat; those serving the deployment answer 5 requests a heartbeat between them (50 a second).
    const requests = new Map(executors.map((e) => [e, 0]));
    let load = true;
    const serving = new Set<string>();
    const beatAll = async () => {
      const answering = [...serving].sort()[0];
      if (load && answering) requests.set(answering, requests.get(answering)! + 5);
      for (const e of executors) {
        const served = serving.has(e) ? [{ deployment: d.name, modelVersion: d.modelVersion, requests: requests.get(e)! }] : [];
        const assigned = await beat(e, served);
        if (assigned.includes(d.name)) serving.add(e);
        else serving.delete(e);
      }
    };
    const replicas = async () => (await deployments.getDeployment({ name: d.name })).deployment!.replicas;
    const beating = setInterval(() => void beatAll(), HEARTBEAT_MS);
    try {
      await until(async () => (await replicas()) === 3, "three replicas (50 requests a second at 10 each, at most 3)");
      await until(async () => serving.size === 3, "every executor serving it");
      const scaled = (await deployments.getDeployment({ name: d.name })).deployment!;
      expect(scaled).toMatchObject({ replicas: 3, updater: "autoscaler" });
      // 50 requests a second, as measured over the window (it may still hold the start).
      expect(scaled.requestsPerSecond).toBeGreaterThan(20);
      expect(scaled.requestsPerSecond).toBeLessThan(80);
      load = false;
      const quiet = Date.now();
      await until(async () => (await replicas()) === 1, "back to one replica once the load stopped");
      // Not before the window emptied of the load and the delay passed.
      expect(Date.now() - quiet).toBeGreaterThanOrEqual(600);
    } finally {
      clearInterval(beating);
    }
  });

  it("measures requests a second from each executor's counts: a restarted count from 0, one first seen in the window from there", () => {
    const first = { at: 0, counts: new Map([["a|v1|", 100n], ["b|v1|", 50n]]) };
    const middle = { at: 1_000, counts: new Map([["a|v1|", 120n], ["b|v1|", 5n], ["c|v1|", 5_000n]]) };
    const last = { at: 2_000, counts: new Map([["a|v1|", 140n], ["b|v1|", 60n], ["c|v1|", 5_030n]]) };
    // a: 40; b restarted between the first two and answered 60 since; c came back from missed heartbeats with 5,000 of its past: 30 since.
    expect(requestRate([first, middle, last])).toBe((40 + 60 + 30) / 2);
    expect(requestRate([first])).toBeUndefined();
    const a = create(AutoscalingSchema, { minReplicas: 2, maxReplicas: 5, targetRequestsPerSecond: 10 });
    expect([0, 15, 20, 20.5, 1_000].map((rate) => wantedReplicas(a, rate))).toEqual([2, 2, 2, 3, 5]);
    const toZero = create(AutoscalingSchema, { minReplicas: 2, maxReplicas: 5, targetRequestsPerSecond: 10, scaleToZero: true });
    expect([0, 0.1, 35].map((rate) => wantedReplicas(toZero, rate))).toEqual([0, 2, 4]);
  });

  it("wakes a deployment scaled to zero for a request, which fails at once, saying why, when its executor cannot load the model", async () => {
    const model = await makeOnnxModel(h);
    const autoscaling = { maxReplicas: 2, targetRequestsPerSecond: 10, scaleToZero: true };
    const d = (await deployments.createDeployment({ parent: PROJECT, deploymentId: uniqueName("asleep"), deployment: { model, autoscaling } })).deployment!;
    await scaleTo(h.scheduler, d.name, 0, 0);
    expect((await deployments.getDeployment({ name: d.name })).deployment!.replicas).toBe(0);
    // The executor is assigned the deployment once woken, and reports it could not load the model.
    const failing = setInterval(() => {
      void h.executor.heartbeat({
        executor: { name: "executors/x", slots: 1, serving: [{ deployment: d.name, modelVersion: d.modelVersion, state: ServedState.FAILED, error: { code: "FAILED_PRECONDITION", reason: "MODEL_LOAD_FAILED", message: "no such op" } }] },
      });
    }, HEARTBEAT_MS);
    try {
      const started = Date.now();
      const refused = await failure(deployments.predict({ deployment: d.name, input: { case: "data", value: fromJson(ValueSchema, [{ a: 1 }]) } }));
      expect(refused).toMatchObject({ code: Code.Unavailable, reason: "DEPLOYMENT_NOT_READY", message: expect.stringContaining("no such op") });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect((await deployments.getDeployment({ name: d.name })).deployment!.replicas).toBe(1);
    } finally {
      clearInterval(failing);
    }
  });

  it("keeps replicas within the bounds, and refuses bad bounds or targets, changing nothing", async () => {
    const model = await makeOnnxModel(h);
    const made = (await deployments.createDeployment({ parent: PROJECT, deploymentId: uniqueName("bounded"), deployment: { model, replicas: 9, autoscaling: { minReplicas: 2, maxReplicas: 4, targetRequestsPerSecond: 1 } } })).deployment!;
    expect(made.replicas).toBe(4);
    expect(made.autoscaling!.scaleDownDelay).toEqual(durationFromMs(60_000));
    const bad = async (autoscaling: Record<string, unknown>) => failure(deployments.createDeployment({ parent: PROJECT, deploymentId: uniqueName("bad"), deployment: { model, autoscaling } }));
    expect(await bad({ minReplicas: 3, maxReplicas: 2, targetRequestsPerSecond: 1 })).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_AUTOSCALING", message: expect.stringContaining("max_replicas must be min_replicas (3) to 100") });
    expect(await bad({ maxReplicas: 2 })).toMatchObject({ reason: "INVALID_AUTOSCALING", message: expect.stringContaining("target_requests_per_second must be above 0") });
    expect(await bad({ maxReplicas: 2, targetRequestsPerSecond: 1, scaleDownDelay: durationFromMs(7_200_000) })).toMatchObject({ reason: "INVALID_AUTOSCALING" });
    expect((await deployments.listDeployments({ parent: PROJECT })).deployments).toHaveLength(1);
    // Dropping it leaves the replicas as they were, fixed again.
    const fixed = (await deployments.updateDeployment({ deployment: { name: made.name }, updateMask: ["autoscaling"] })).deployment!;
    expect(fixed.replicas).toBe(4);
    expect(fixed.autoscaling).toBeUndefined();
  });
});
