import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { createLogger, errorInterceptor } from "@kiln/core";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { linearRegressorOnnx } from "@kiln/onnx";
import { createDeploymentService } from "../src/service.js";
import { failure, makeDataset, makeOnnxModel, PROJECT, startHarness, uniqueName, type Harness } from "./harness.js";

describe("deployments and schedules hold the model versions they name in the registry", () => {
  let h: Harness;
  let deployments: ReturnType<typeof createClient<typeof DeploymentService>>;
  beforeEach(async () => {
    h = await startHarness({ settings: { heartbeatMs: 1_000 } });
    const transport = createRouterTransport((router) => router.service(DeploymentService, createDeploymentService(h.scheduler)), {
      router: { interceptors: [errorInterceptor(createLogger("test", "silent"))] },
    });
    deployments = createClient(DeploymentService, transport);
  });
  afterEach(async () => {
    await h.close();
  });

  const holdersOf = async (version: string) => (await h.registry.getModelVersion({ name: version })).version!.holders;
  const dropVersion = (version: string) => h.registry.deleteModelVersion({ name: version });
  const beat = () => h.executor.heartbeat({ executor: { name: "executors/e1", slots: 1 } });

  it("holds the served and the canary version from creation to deletion, moving with updates", async () => {
    const model = await makeOnnxModel(h);
    await h.kiln.models.put(model.split("/").pop()!, linearRegressorOnnx([3, 4], 0), { format: "onnx" });
    const [v1, v2] = [`${model}/versions/1`, `${model}/versions/2`];
    const { deployment: d } = await deployments.createDeployment({ parent: PROJECT, deploymentId: "churn", deployment: { model: v1 } });
    expect(await holdersOf(v1)).toEqual([d!.name]);
    expect(await failure(dropVersion(v1))).toMatchObject({ code: Code.FailedPrecondition, reason: "VERSION_IN_USE", message: expect.stringContaining(d!.name) });
    expect(await failure(h.registry.deleteModel({ name: model }))).toMatchObject({ code: Code.FailedPrecondition, reason: "MODEL_IN_USE" });

    // A canary holds its version too; promoting it releases the old one.
    await deployments.updateDeployment({ deployment: { name: d!.name, canaryModel: v2, canaryTrafficPercent: 10 }, updateMask: ["canary_model", "canary_traffic_percent"] });
    expect([await holdersOf(v1), await holdersOf(v2)]).toEqual([[d!.name], [d!.name]]);
    await deployments.updateDeployment({ deployment: { name: d!.name, model: v2, canaryModel: "" }, updateMask: ["model", "canary_model"] });
    expect([await holdersOf(v1), await holdersOf(v2)]).toEqual([[], [d!.name]]);
    await dropVersion(v1);

    // A change that keeps the versions (replicas) leaves the holds as they are; deleting the deployment releases them.
    await deployments.updateDeployment({ deployment: { name: d!.name, replicas: 2 }, updateMask: ["replicas"] });
    expect(await holdersOf(v2)).toEqual([d!.name]);
    await deployments.deleteDeployment({ name: d!.name });
    expect(await holdersOf(v2)).toEqual([]);
    await h.registry.deleteModel({ name: model });
  });

  it("sets the holds again and releases those of deployments and schedules gone when it sweeps, as heartbeats come", async () => {
    const model = await makeOnnxModel(h);
    const v1 = `${model}/versions/1`;
    const { deployment: d } = await deployments.createDeployment({ parent: PROJECT, deploymentId: uniqueName("d"), deployment: { model: v1 } });
    await beat(); // the first sweep
    const x = await makeDataset(h);
    const { schedule } = await h.schedules.createSchedule({ parent: PROJECT, scheduleId: uniqueName("s"), schedule: { cron: "0 2 * * *", job: { kind: JobKind.PREDICT, model: v1, x: { dataset: x } } } });
    // Holds lost (a registry away when they were set) and ones left by a deployment and a schedule that went without releasing them.
    const gone = `${PROJECT}/deployments/${uniqueName("gone")}`;
    const goneSchedule = `${PROJECT}/schedules/${uniqueName("gone")}`;
    await h.registry.setModelVersionHolds({ holds: [{ holder: d!.name, versions: [] }, { holder: schedule!.name, versions: [] }, { holder: gone, versions: [v1] }, { holder: goneSchedule, versions: [v1] }] });
    expect(await holdersOf(v1)).toEqual([gone, goneSchedule]);

    h.clock.advance(30_000);
    await beat(); // within a minute of the last sweep: none
    await new Promise((r) => setTimeout(r, 200));
    expect(await holdersOf(v1)).toEqual([gone, goneSchedule]);

    h.clock.advance(90_000); // the next sweep; the stray holds were set over a minute before it
    await beat();
    await expect.poll(() => holdersOf(v1), { timeout: 5_000 }).toEqual([d!.name, schedule!.name].sort());
  });

  it("holds the version a schedule's job names by number, not one it names by a tag or latest", async () => {
    const model = await makeOnnxModel(h);
    const x = await makeDataset(h);
    const v1 = `${model}/versions/1`;
    const job = (ref: string) => ({ kind: JobKind.PREDICT, model: ref, x: { dataset: x } });
    const { schedule: pinned } = await h.schedules.createSchedule({ parent: PROJECT, scheduleId: uniqueName("s"), schedule: { cron: "0 2 * * *", job: job(v1) } });
    const { schedule: latest } = await h.schedules.createSchedule({ parent: PROJECT, scheduleId: uniqueName("s"), schedule: { cron: "0 2 * * *", job: job(`${model}/versions/latest`) } });
    expect(await holdersOf(v1)).toEqual([pinned!.name]);
    expect(await failure(dropVersion(v1))).toMatchObject({ code: Code.FailedPrecondition, reason: "VERSION_IN_USE", message: expect.stringContaining(pinned!.name) });
    // Moved to "latest" it holds nothing; pinned again, and deleted, likewise.
    await h.schedules.updateSchedule({ schedule: { name: pinned!.name, job: job(`${model}/versions/latest`) }, updateMask: ["job"] });
    expect(await holdersOf(v1)).toEqual([]);
    await h.schedules.updateSchedule({ schedule: { name: latest!.name, job: job(v1) }, updateMask: ["job"] });
    expect(await holdersOf(v1)).toEqual([latest!.name]);
    await h.schedules.deleteSchedule({ name: latest!.name });
    expect(await holdersOf(v1)).toEqual([]);
    await dropVersion(v1);
  });

  it("creates a deployment while the registry refuses holds, which the next sweep sets", async () => {
    const model = await makeOnnxModel(h);
    const v1 = `${model}/versions/1`;
    const refusing = { ...h.scheduler, registry: { ...h.scheduler.registry, setModelVersionHolds: () => Promise.reject(new Error("registry away")) } };
    const away = createClient(
      DeploymentService,
      createRouterTransport((router) => router.service(DeploymentService, createDeploymentService(refusing)), {
        router: { interceptors: [errorInterceptor(createLogger("test", "silent"))] },
      }),
    );
    const { deployment: d } = await away.createDeployment({ parent: PROJECT, deploymentId: uniqueName("d"), deployment: { model: v1 } });
    expect(await holdersOf(v1)).toEqual([]);
    await beat();
    await expect.poll(() => holdersOf(v1), { timeout: 5_000 }).toEqual([d!.name]);
  });
});
