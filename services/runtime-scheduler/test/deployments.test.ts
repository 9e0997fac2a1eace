import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { fromJson } from "@bufbuild/protobuf";
import { durationFromMs, ValueSchema } from "@bufbuild/protobuf/wkt";
import { Code, createClient, createRouterTransport } from "@connectrpc/connect";
import { tableFromArrays, tableFromIPC, tableToIPC } from "apache-arrow";
import { createLogger, errorInterceptor } from "@kiln/core";
import {
  DeploymentEventSchema,
  DeploymentService,
  DeploymentState,
  ServeReplySchema,
  ServeRequestSchema,
} from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { JobKind, ServedState, type DeploymentAssignment } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { Responder } from "@kiln/bus";
import { createDeploymentService } from "../src/service.js";
import { failure, makeOnnxModel, makeTrainableModel, PROJECT, startHarness, uniqueName, type Harness } from "./harness.js";

describe("deployments: records, assignment to executors, and predictions routed on the bus", () => {
  let h: Harness;
  let deployments: ReturnType<typeof createClient<typeof DeploymentService>>;
  const responders: Responder[] = [];
  beforeEach(async () => {
    h = await startHarness({ settings: { heartbeatMs: 1_000, predictTimeoutMs: 300 } });
    const transport = createRouterTransport((router) => router.service(DeploymentService, createDeploymentService(h.scheduler)), {
      router: { interceptors: [errorInterceptor(createLogger("test", "silent"))] },
    });
    deployments = createClient(DeploymentService, transport);
  });
  afterEach(async () => {
    await Promise.all(responders.splice(0).map((r) => r.stop()));
    await h.close();
  });

  const deploy = async (model: string, spec: { replicas?: number; requiredLabels?: string[] } = {}, id = uniqueName("d")) =>
    (await deployments.createDeployment({ parent: PROJECT, deploymentId: id, deployment: { model, ...spec } })).deployment!;

  /** A heartbeat of an executor serving these deployments (READY); its assignments. */
  const beat = async (name: string, labels: string[] = [], serving: { deployment: string; modelVersion: string; state?: ServedState; message?: string }[] = []) => {
    const res = await h.executor.heartbeat({
      executor: {
        name: `executors/${name}`,
        slots: 1,
        labels,
        serving: serving.map((s) => ({ deployment: s.deployment, modelVersion: s.modelVersion, state: s.state ?? ServedState.READY, error: s.message ? { code: "FAILED_PRECONDITION", reason: "ONNX_RUN_FAILED", message: s.message } : undefined })),
      },
    });
    return res.deployments;
  };
  const names = (assigned: DeploymentAssignment[]) => assigned.map((a) => a.deployment);
  /** The deployment events published so far (the stream holds nothing else of deployments). */
  const deploymentEvents = async (on: Harness) => {
    const sub = await on.bus.subscribe({ stream: "KILN_RUNTIME", durable: uniqueName("dev"), filterSubject: "kiln.runtime.v1.deployment.>" });
    const out: { subject: string; event: ReturnType<typeof fromBinary<typeof DeploymentEventSchema>> }[] = [];
    const it = sub[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([it.next(), new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (!next || next.done) break;
      next.value.ack();
      out.push({ subject: next.value.subject, event: fromBinary(DeploymentEventSchema, next.value.data) });
    }
    await sub.stop();
    return out;
  };

  it("stores a deployment with its model resolved and its defaults; gets, lists, updates and deletes it", async () => {
    const model = await makeOnnxModel(h);
    const d = await deploy(model, {}, "churn");
    expect(d).toMatchObject({
      name: `${PROJECT}/deployments/churn`,
      model: `${model}/versions/latest`,
      modelVersion: `${model}/versions/1`,
      replicas: 1,
      maxBatchRows: 4096,
      state: DeploymentState.PENDING,
      readyReplicas: 0,
    });
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ modelVersion: `${model}/versions/1` });
    await h.kiln.models.put(model.split("/").pop()!, new Uint8Array((await h.kiln.models.bytes(`${model}/versions/1`))), { format: "onnx" });
    const updated = (await deployments.updateDeployment({ deployment: { name: d.name, model, replicas: 2, maxBatchDelay: durationFromMs(5) }, updateMask: ["model", "replicas", "max_batch_delay"] })).deployment!;
    expect(updated).toMatchObject({ modelVersion: `${model}/versions/2`, replicas: 2, maxBatchRows: 4096 });
    const other = await deploy(model, {}, "another");
    expect((await deployments.listDeployments({ parent: PROJECT })).deployments.map((x) => x.name)).toEqual([other.name, d.name]);
    await deployments.deleteDeployment({ name: d.name });
    expect(await failure(deployments.getDeployment({ name: d.name }))).toMatchObject({ code: Code.NotFound, reason: "DEPLOYMENT_NOT_FOUND" });
    // Each change is an event on the runtime's stream.
    const events = await deploymentEvents(h);
    expect(events.map((e) => [e.subject, e.event.deployment!.name, e.event.deployment!.modelVersion])).toEqual([
      ["kiln.runtime.v1.deployment.created", d.name, `${model}/versions/1`],
      ["kiln.runtime.v1.deployment.updated", d.name, `${model}/versions/2`],
      ["kiln.runtime.v1.deployment.created", other.name, `${model}/versions/2`],
      ["kiln.runtime.v1.deployment.deleted", d.name, `${model}/versions/2`],
    ]);
    expect(await failure(deployments.deleteDeployment({ name: d.name }))).toMatchObject({ code: Code.NotFound });
  });

  it("refuses bad requests with their codes and stores nothing", async () => {
    const model = await makeOnnxModel(h);
    const trainable = await makeTrainableModel(h);
    const refused = async (p: Promise<unknown>) => failure(p);
    expect(await refused(deploy(`${PROJECT}/models/${uniqueName("none")}`, {}, "a"))).toMatchObject({ code: Code.NotFound });
    expect(await refused(deploy(trainable, {}, "a"))).toMatchObject({ code: Code.FailedPrecondition, reason: "NOT_RUNNABLE" });
    expect(await refused(deploy("projects/other/models/m", {}, "a"))).toMatchObject({ code: Code.InvalidArgument, reason: "CROSS_PROJECT" });
    expect(await refused(deploy(model, { replicas: 500 }, "a"))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_REPLICAS" });
    expect(await refused(deploy(model, { requiredLabels: ["no spaces"] }, "a"))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_LABEL" });
    expect(await refused(deploy("", {}, "a"))).toMatchObject({ code: Code.InvalidArgument, reason: "MODEL_REQUIRED" });
    expect(await refused(deploy(model, {}, "bad/id"))).toMatchObject({ code: Code.InvalidArgument });
    expect((await deployments.listDeployments({ parent: PROJECT })).deployments).toEqual([]);

    const d = await deploy(model, {}, "a");
    expect(await refused(deploy(model, {}, "a"))).toMatchObject({ code: Code.AlreadyExists, reason: "DEPLOYMENT_EXISTS" });
    expect(await refused(deployments.updateDeployment({ deployment: { name: d.name, replicas: 3 }, updateMask: [] }))).toMatchObject({ reason: "UPDATE_MASK_REQUIRED" });
    expect(await refused(deployments.updateDeployment({ deployment: { name: d.name, model: trainable }, updateMask: ["model"] }))).toMatchObject({ reason: "NOT_RUNNABLE" });
    expect(await refused(deployments.updateDeployment({ deployment: { name: d.name, modelVersion: "x" }, updateMask: ["model_version"] }))).toMatchObject({ reason: "INVALID_UPDATE_MASK" });
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ modelVersion: `${model}/versions/1`, replicas: 1 });
  });

  it("keeps a canary beside the model: resolved, checked, assigned with its share, and READY only where both are loaded", async () => {
    const model = await makeOnnxModel(h);
    const trainable = await makeTrainableModel(h);
    const d = await deploy(model);
    const update = (deployment: Record<string, unknown>, updateMask: string[]) => deployments.updateDeployment({ deployment: { name: d.name, ...deployment }, updateMask });
    expect(await failure(update({ canaryTrafficPercent: 10 }, ["canary_traffic_percent"]))).toMatchObject({ code: Code.InvalidArgument, reason: "CANARY_MODEL_REQUIRED" });
    expect(await failure(update({ canaryModel: model, canaryTrafficPercent: 101 }, ["canary_model", "canary_traffic_percent"]))).toMatchObject({ reason: "INVALID_CANARY_TRAFFIC" });
    expect(await failure(update({ canaryModel: trainable, canaryTrafficPercent: 10 }, ["canary_model", "canary_traffic_percent"]))).toMatchObject({ reason: "NOT_RUNNABLE" });
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ canaryModel: "", canaryTrafficPercent: 0 });

    const withCanary = (await update({ canaryModel: model, canaryTrafficPercent: 10 }, ["canary_model", "canary_traffic_percent"])).deployment!;
    expect(withCanary).toMatchObject({ canaryModel: `${model}/versions/latest`, canaryModelVersion: `${model}/versions/1`, canaryTrafficPercent: 10 });
    const [assigned] = await beat("e1");
    expect(assigned).toMatchObject({ modelVersion: `${model}/versions/1`, canaryModelVersion: `${model}/versions/1`, canaryTrafficPercent: 10 });
    // Loaded without the canary (an executor still on the assignment before): not counted.
    await beat("e1", [], [{ deployment: d.name, modelVersion: d.modelVersion }]);
    expect((await deployments.getDeployment({ name: d.name })).deployment!.state).toBe(DeploymentState.PENDING);
    await h.executor.heartbeat({ executor: { name: "executors/e1", slots: 1, serving: [{ deployment: d.name, modelVersion: d.modelVersion, canaryModelVersion: `${model}/versions/1`, state: ServedState.READY }] } });
    expect((await deployments.getDeployment({ name: d.name })).deployment!.state).toBe(DeploymentState.READY);

    // Clearing the canary clears its share.
    expect((await update({ canaryModel: "" }, ["canary_model"])).deployment).toMatchObject({ canaryModel: "", canaryModelVersion: "", canaryTrafficPercent: 0 });
  });

  it("assigns a deployment to `replicas` executors having its labels, keeps it where it is loaded, and moves it when one is gone", async () => {
    const model = await makeOnnxModel(h);
    const d = await deploy(model, { replicas: 2, requiredLabels: ["cpu"] });
    const version = d.modelVersion;
    expect(await beat("no-labels")).toEqual([]);
    const first = await Promise.all(["e1", "e2", "e3"].map(async (e) => [e, names(await beat(e, ["cpu"]))] as const));
    const chosen = first.filter(([, n]) => n.length > 0).map(([e]) => e);
    expect(chosen).toHaveLength(2);
    const [assigned] = await beat(chosen[0]!, ["cpu"]);
    expect(assigned).toMatchObject({ deployment: d.name, modelVersion: version, maxBatchRows: 4096 });
    expect(assigned!.subject).toMatch(/^kiln\.runtime\.v1\.serve\.[0-9a-f]+$/);

    // Both report it loaded: READY, with their names.
    for (const e of chosen) await beat(e, ["cpu"], [{ deployment: d.name, modelVersion: version }]);
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ state: DeploymentState.READY, readyReplicas: 2, executors: chosen.map((e) => `executors/${e}`).sort() });

    // A newcomer does not take it from executors that have it loaded.
    expect(await beat("e0", ["cpu"])).toEqual([]);

    // One goes quiet: after three missed heartbeats another takes its place; meanwhile the deployment is DEGRADED.
    const [stays, goes] = chosen;
    const spare = ["e0", "e1", "e2", "e3"].find((e) => !chosen.includes(e) && e !== "e0") ?? "e0";
    h.clock.advance(2_500);
    await beat(stays!, ["cpu"], [{ deployment: d.name, modelVersion: version }]);
    await beat(spare, ["cpu"]);
    h.clock.advance(1_000);
    await beat(stays!, ["cpu"], [{ deployment: d.name, modelVersion: version }]);
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ state: DeploymentState.DEGRADED, readyReplicas: 1 });
    expect(names(await beat(spare, ["cpu"]))).toEqual([d.name]);
    expect(goes).not.toBe(spare);
  });

  it("reports FAILED with the executors' error when none could load the model", async () => {
    const model = await makeOnnxModel(h);
    const d = await deploy(model);
    const [a] = await beat("e1");
    await beat("e1", [], [{ deployment: d.name, modelVersion: a!.modelVersion, state: ServedState.FAILED, message: "bad graph" }]);
    expect((await deployments.getDeployment({ name: d.name })).deployment).toMatchObject({ state: DeploymentState.FAILED, error: { message: "bad graph" } });
  });

  it("routes a prediction to a responder on the deployment's subject and gives its rows back as Arrow or JSON", async () => {
    const model = await makeOnnxModel(h);
    const d = await deploy(model);
    const [assignment] = await beat("e1");
    const seen: { kind: JobKind; keep: string[]; rows: number }[] = [];
    const ids: string[] = [];
    responders.push(
      await h.bus.respond(assignment!.subject, assignment!.queue, async (req) => {
        const request = fromBinary(ServeRequestSchema, req.data);
        const rows = tableFromIPC(request.arrowIpc);
        seen.push({ kind: request.kind, keep: request.keepColumns, rows: rows.numRows });
        ids.push(request.requestId);
        const out = tableFromArrays({ prediction: Float32Array.from(rows.getChild("a")!.toArray() as Float64Array, (v) => v * 2) });
        return { data: toBinary(ServeReplySchema, create(ServeReplySchema, { arrowIpc: tableToIPC(out, "stream"), rowCount: BigInt(out.numRows), modelVersion: assignment!.modelVersion, executor: "executors/e1" })), headers: {} };
      }),
    );
    const json = await deployments.predict({ deployment: d.name, input: { case: "data", value: fromJson(ValueSchema, [{ a: 1 }, { a: 2.5 }]) }, keepColumns: ["a"] });
    expect(json).toMatchObject({ json: { columns: ["prediction"], rows: [{ prediction: 2 }, { prediction: 5 }] }, modelVersion: assignment!.modelVersion, executor: "executors/e1" });
    const arrow = await deployments.predict({ deployment: d.name, input: { case: "arrowIpc", value: tableToIPC(tableFromArrays({ a: Float64Array.of(4) }), "stream") }, kind: JobKind.PREDICT_PROBA });
    expect(arrow.chunk!.rowCount).toBe(1n);
    expect(tableFromIPC(arrow.chunk!.arrowIpc).getChild("prediction")!.get(0)).toBe(8);
    // Each prediction has an id of its own, by which an executor answers a resent copy once.
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen).toEqual([
      { kind: JobKind.PREDICT, keep: ["a"], rows: 2 },
      { kind: JobKind.PREDICT_PROBA, keep: [], rows: 1 },
    ]);
  });

  it("passes on an executor's refusal with its code, and says why nothing answered", async () => {
    const model = await makeOnnxModel(h);
    const d = await deploy(model, { requiredLabels: ["gpu"] });
    const rows = { case: "data" as const, value: fromJson(ValueSchema, [{ a: 1 }]) };
    expect(await failure(deployments.predict({ deployment: d.name, input: rows }))).toMatchObject({ code: Code.Unavailable, reason: "DEPLOYMENT_NOT_READY" });
    expect(await failure(deployments.predict({ deployment: `${PROJECT}/deployments/none`, input: rows }))).toMatchObject({ code: Code.NotFound, reason: "DEPLOYMENT_NOT_FOUND" });
    expect(await failure(deployments.predict({ deployment: d.name, input: rows, kind: JobKind.FIT }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_KIND" });
    expect(await failure(deployments.predict({ deployment: d.name }))).toMatchObject({ code: Code.InvalidArgument, reason: "INPUT_REQUIRED" });
    expect(await failure(deployments.predict({ deployment: d.name, input: { case: "data", value: fromJson(ValueSchema, "nonsense") } }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_INPUT_DATA" });

    const [assignment] = await beat("g1", ["gpu"]);
    let slow = false;
    responders.push(
      await h.bus.respond(assignment!.subject, assignment!.queue, async () => {
        if (slow) await new Promise((r) => setTimeout(r, 1_000));
        return { data: toBinary(ServeReplySchema, create(ServeReplySchema, { error: { code: "FAILED_PRECONDITION", reason: "COLUMN_MISSING", message: "no column b" } })), headers: {} };
      }),
    );
    expect(await failure(deployments.predict({ deployment: d.name, input: rows }))).toMatchObject({ code: Code.FailedPrecondition, reason: "COLUMN_MISSING", message: expect.stringContaining("no column b") });
    slow = true;
    expect(await failure(deployments.predict({ deployment: d.name, input: rows }))).toMatchObject({ code: Code.DeadlineExceeded, reason: "PREDICT_TIMEOUT" });
  });

  describe("a request the executor that took it never answers (it was killed)", () => {
    let quick: Harness;
    afterEach(async () => quick?.close());

    it("is sent again once that executor misses its heartbeats, and the other one answers", async () => {
      quick = await startHarness({ settings: { heartbeatMs: 100, predictTimeoutMs: 10_000 } });
      const client = createClient(DeploymentService, createRouterTransport((router) => router.service(DeploymentService, createDeploymentService(quick.scheduler))));
      const model = await makeOnnxModel(quick);
      const d = (await client.createDeployment({ parent: PROJECT, deploymentId: "d", deployment: { model, replicas: 2 } })).deployment!;
      const beatAs = async (name: string) =>
        (await quick.executor.heartbeat({ executor: { name, slots: 1, serving: [{ deployment: d.name, modelVersion: d.modelVersion, state: ServedState.READY }] } })).deployments;
      const [assignment] = await beatAs("executors/dying");
      await beatAs("executors/staying");
      let releaseDying = () => {};
      const released = new Promise<void>((resolve) => (releaseDying = resolve));
      const taken: string[] = [];
      const answer = (executor: string) => async () => {
        taken.push(executor);
        if (executor === "executors/dying") await released; // took it, and will never answer
        const out = tableFromArrays({ prediction: Float32Array.of(1) });
        return { data: toBinary(ServeReplySchema, create(ServeReplySchema, { arrowIpc: tableToIPC(out, "stream"), rowCount: 1n, executor })), headers: {} };
      };
      // The in-process bus hands a queue group's requests round, the first to the first member.
      const responders = [await quick.bus.respond(assignment!.subject, assignment!.queue, answer("executors/dying")), await quick.bus.respond(assignment!.subject, assignment!.queue, answer("executors/staying"))];
      const beating = setInterval(() => void beatAs("executors/staying"), 50);
      try {
        const started = Date.now();
        const res = await client.predict({ deployment: d.name, input: { case: "data", value: fromJson(ValueSchema, [{ a: 1 }]) } });
        expect(res.executor).toBe("executors/staying");
        expect(taken).toEqual(["executors/dying", "executors/staying"]);
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        clearInterval(beating);
        releaseDying();
        await Promise.all(responders.map((r) => r.stop()));
      }
    });
  });
});
