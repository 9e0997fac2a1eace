import { execFile } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { promisify } from "node:util";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tableFromArrays, tableFromIPC, tableToIPC, type Table } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { connectNatsBus } from "@kiln/bus";
import { startNatsServer, type NatsServer } from "@kiln/bus/testing";
import { DeploymentService } from "@kiln/proto/kiln/runtime/v1/deployments_pb";
import { QueuedJobSchema } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { DeadlineExceededError, InternalError, Kiln, type JobInfo } from "@kiln/sdk";
import { startService, type ServiceProcess } from "./processes.js";

const ACK_WAIT_MS = 2_000;

/** Rows whose target is a linear function of the features: y = 3·a − 2·b + 1. */
function linearRows(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const a = ((i * 37) % 101) / 10;
    const b = ((i * 53) % 97) / 10;
    return { a, b, y: 3 * a - 2 * b + 1 };
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the runtime as separate processes over NATS JetStream (store, registry, scheduler, executors)", () => {
  let dir: string;
  let nats: NatsServer;
  let store: ServiceProcess;
  let registry: ServiceProcess;
  let scheduler: ServiceProcess;
  let schedulerEnv: Record<string, string>;
  const executors: ServiceProcess[] = [];
  let kiln: Kiln;
  let common: Record<string, string>;

  const executorIds = new Map<ServiceProcess, string>();
  const startExecutor = async (id: string, labels = "", env: Record<string, string> = {}) => {
    const executor = await startService("executor", { ...common, KILN_EXECUTOR_ID: id, KILN_EXECUTOR_LABELS: labels, KILN_EXECUTOR_SLOTS: "2", ...env });
    executors.push(executor);
    executorIds.set(executor, id);
    return executor;
  };
  /** The process of executors/{id}. */
  const executorNamed = (name: string) => executors.find((e) => `executors/${executorIds.get(e)}` === name)!;
  /** Starts a killed executor (one without labels) again in its place in `executors`, whose order later tests count on. */
  const restartExecutor = async (dead: ServiceProcess) => {
    const again = await startExecutor(executorIds.get(dead)!);
    executors.pop();
    executors[executors.indexOf(dead)] = again;
    return again;
  };
  const running = (name: string) => until(`${name} to run`, async () => ((await kiln.runtime.job(name).info()).state === "running" ? true : undefined));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-runtime-dist-"));
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
    const bus = { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_PORT: "0" };
    store = await startService("store", { ...bus, KILN_DATA_DIR: join(dir, "store") });
    registry = await startService("registry", { ...bus, KILN_DATA_DIR: join(dir, "registry") });
    const peers = { KILN_STORE_URL: store.url, KILN_REGISTRY_URL: registry.url };
    // A port of its own, so a restarted scheduler is where the executors and the SDK look for it.
    schedulerEnv = { ...bus, ...peers, KILN_DATA_DIR: join(dir, "scheduler"), KILN_PORT: String(await freePort()) };
    scheduler = await startService("runtime-scheduler", schedulerEnv);
    common = { ...bus, ...peers, KILN_URL: scheduler.url, KILN_SCHEDULER_URL: scheduler.url, KILN_JOB_ACK_WAIT_MS: String(ACK_WAIT_MS), KILN_EXECUTOR_HEARTBEAT_MS: "200" };
    await startExecutor("exec-a");
    await startExecutor("exec-b");
    kiln = await Kiln.connect({ url: scheduler.url, services: { store: store.url, registry: registry.url } });
    await kiln.datasets.put("train", linearRows(200));
    await kiln.datasets.put("big", linearRows(300_000).map(({ a, b }) => ({ a, b })));
  }, 60_000);

  afterAll(async () => {
    kiln?.close();
    for (const p of [...executors, scheduler, registry, store]) await p?.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("fits, predicts with results streamed before the job ends, and scores", async () => {
    await kiln.models.create("lin", { estimator: "linear_regression" });
    const fit = await kiln.runtime.model("lin").fit({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] });
    expect(await fit.get()).toMatchObject({ modelVersion: "projects/default/models/lin/versions/2" });

    const predict = await kiln.runtime.model("lin").predict("big");
    let rows = 0;
    let firstAt = 0;
    let first: Table | undefined;
    const big = linearRows(300_000);
    let outOfPlace = 0;
    for await (const chunk of predict.results()) {
      firstAt ||= Date.now();
      first ??= chunk;
      // Batches run a few at once; their results still come in row order.
      const predictions = chunk.getChild("prediction")!;
      for (let i = 0; i < chunk.numRows; i++) if (Math.abs(predictions.get(i) - big[rows + i]!.y) > 1e-3) outOfPlace++;
      rows += chunk.numRows;
    }
    expect(outOfPlace).toBe(0);
    const done = await predict.wait();
    expect(rows).toBe(300_000);
    expect(firstAt).toBeLessThan(done.endTime!.getTime()); // the first chunk arrived while the job still ran
    expect(first!.getChild("prediction")!.get(1)).toBeCloseTo(3 * 3.7 - 2 * 5.3 + 1, 3);

    const score = await (await kiln.runtime.model("lin").score({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] })).get();
    expect((score as Record<string, number>).r2).toBeCloseTo(1, 6);
    // Local rows carried in the submit: the scheduler process stores them in the store process for the job.
    const local = await (await kiln.runtime.model("lin").predict([{ a: 1, b: 2 }, { a: 0, b: 0 }])).get();
    expect([...local.getChild("prediction")!].map((v) => Math.round(Number(v) * 1000) / 1000)).toEqual([3 * 1 - 2 * 2 + 1, 1]);
    const ran = new Set((await kiln.runtime.jobs({ model: "lin" })).map((j) => j.attempts[0]?.executor));
    expect(ran.size).toBeGreaterThan(0);
  }, 60_000);

  describe("online serving (deployments) over NATS request/reply", () => {
    /** Rows of a request, different in each, and what the linear model "lin" predicts for them. */
    const request = (i: number) => {
      const a = [i / 10, (i % 7) - 3];
      const b = [(i % 13) / 4, -i / 20];
      return { rows: tableToIPC(tableFromArrays({ a: Float64Array.from(a), b: Float64Array.from(b) }), "stream"), expected: a.map((x, j) => 3 * x - 2 * b[j]! + 1) };
    };
    let client: ReturnType<typeof createClient<typeof DeploymentService>> | undefined;
    /** A Predict through the scheduler's DeploymentService, whose answer names the executor that answered (the SDK's does not). */
    const predict = async (id: string, i: number) => {
      // The scheduler keeps its port across restarts: one client does.
      client ??= createClient(DeploymentService, createGrpcTransport({ baseUrl: scheduler.url }));
      const { rows, expected } = request(i);
      const res = await client.predict({ deployment: `projects/default/deployments/${id}`, input: { case: "arrowIpc", value: rows } });
      const predictions = [...tableFromIPC(res.chunk!.arrowIpc).getChild("prediction")!].map(Number);
      return { predictions, expected, executor: res.executor, modelVersion: res.modelVersion };
    };
    const checkAll = (answers: Awaited<ReturnType<typeof predict>>[]) => {
      let wrong = 0;
      for (const { predictions, expected } of answers) if (predictions.length !== expected.length || predictions.some((p, j) => Math.abs(p - expected[j]!) > 1e-3)) wrong++;
      expect(wrong).toBe(0);
    };

    it("serves a deployment from both executors over NATS", async () => {
      const info = await kiln.deployments.create("lin-online", { model: "lin", replicas: 2 });
      expect(info).toMatchObject({ state: "ready", readyReplicas: 2, replicas: 2, modelVersion: "projects/default/models/lin/versions/2" });
      expect([...info.executors].sort()).toEqual(["executors/exec-a", "executors/exec-b"]);

      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => predict("lin-online", i)));
      checkAll(answers);
      expect(new Set(answers.map((a) => a.modelVersion))).toEqual(new Set(["projects/default/models/lin/versions/2"]));
      expect([...new Set(answers.map((a) => a.executor))].sort()).toEqual(["executors/exec-a", "executors/exec-b"]);
      // The SDK's predict, the same way.
      const table = await kiln.deployments.predict("lin-online", [{ a: 1, b: 2 }, { a: 0, b: 0 }]);
      expect([...table.getChild("prediction")!].map((v) => Math.round(Number(v) * 1000) / 1000)).toEqual([0, 1]);
      // An inference graph, run by the scheduler process: rows with a > 0 to the deployment, the rest to a mean of it twice.
      await kiln.inferenceGraphs.create("lin-graph", {
        nodes: {
          root: { routerType: "switch", steps: [{ name: "positive", deployment: "lin-online", condition: "a > 0" }, { name: "rest", node: "twice" }] },
          twice: { routerType: "ensemble", combine: "mean", steps: [{ name: "x", deployment: "lin-online" }, { name: "y", deployment: "lin-online" }] },
        },
      });
      const graph = await kiln.inferenceGraphs.predictWithSteps("lin-graph", [{ a: 1, b: 2 }, { a: 0, b: 0 }, { a: 2, b: 0 }]);
      expect([...graph.table.getChild("prediction")!].map((v) => Math.round(Number(v) * 1000) / 1000)).toEqual([0, 1, 7]);
      expect(graph.steps.map((s) => [s.node, s.step, s.rows]).sort()).toEqual([["root", "positive", 2], ["twice", "x", 1], ["twice", "y", 1]]);
    }, 30_000);

    it("keeps answering when an executor serving it is killed", async () => {
      // Replicas 2: the survivor answers every request sent after the kill (NATS dropped the dead one's subscription).
      const [victim, survivor] = (await kiln.deployments.get("lin-online")).executors as [string, string];
      await executorNamed(victim).kill();
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => predict("lin-online", 100 + i)));
      checkAll(answers);
      expect(new Set(answers.map((a) => a.executor))).toEqual(new Set([survivor]));
      // Once it missed its heartbeats, the deployment is DEGRADED on the survivor (no third executor to take the replica)...
      const degraded = await until("the deployment to be degraded", async () => {
        const d = await kiln.deployments.get("lin-online");
        return d.state === "degraded" ? d : undefined;
      });
      expect(degraded).toMatchObject({ readyReplicas: 1, executors: [survivor] });
      // ...and READY on both again when the executor is back.
      await restartExecutor(executorNamed(victim));
      expect([...(await kiln.deployments.waitReady("lin-online", 10_000)).executors].sort()).toEqual(["executors/exec-a", "executors/exec-b"]);
      checkAll(await Promise.all(Array.from({ length: 20 }, (_, i) => predict("lin-online", 200 + i))));
    }, 30_000);

    it("answers the requests a killed executor had taken, from the other one, within seconds", async () => {
      // A second of batching delay holds each request on the executor that took it while that one is killed.
      const info = await kiln.deployments.create("lin-held", { model: "lin", replicas: 2, maxBatchDelayMs: 1_000 });
      const [victim, survivor] = info.executors as [string, string];
      const started = Date.now();
      const answering = Promise.all(Array.from({ length: 20 }, (_, i) => predict("lin-held", i).then((a) => ({ ...a, ms: Date.now() - started }))));
      await new Promise((r) => setTimeout(r, 300));
      await executorNamed(victim).kill();
      const answers = await answering;
      checkAll(answers);
      // Those the survivor took come after its delay; those the victim took are sent again once it misses its heartbeats.
      expect(new Set(answers.map((a) => a.executor))).toEqual(new Set([survivor]));
      expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(6_000);
      await restartExecutor(executorNamed(victim));
      await kiln.deployments.delete("lin-held");
    }, 30_000);

    it("moves a deployment of one replica to the other executor when the executor serving it is killed", async () => {
      const info = await kiln.deployments.create("lin-single", { model: "lin", replicas: 1 });
      const [victim] = info.executors as [string];
      const survivor = ["executors/exec-a", "executors/exec-b"].find((e) => e !== victim)!;
      expect((await predict("lin-single", 0)).executor).toBe(victim);
      await executorNamed(victim).kill();
      const killedAt = Date.now();
      // Nothing answers until the scheduler no longer counts the dead executor alive and the survivor has loaded the model: 3 heartbeats
      // of the scheduler's interval, which it gives the executors (500 ms, its default: schedulerEnv does not set the 200 ms of `common`).
      const refusals = new Set<string | undefined>();
      await until("the survivor to answer", () =>
        kiln.deployments.predict("lin-single", [{ a: 1, b: 1 }]).then(
          () => true,
          (e: { reason?: string }) => void refusals.add(e.reason),
        ),
      );
      const gap = Date.now() - killedAt;
      // Refused as not ready meanwhile; or, when NATS had not yet seen the killed executor's connection close, held and sent again to the survivor.
      expect([...refusals].filter((r) => r !== "DEPLOYMENT_NOT_READY")).toEqual([]);
      expect(gap).toBeLessThan(5_000);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => predict("lin-single", i)));
      checkAll(answers);
      expect(new Set(answers.map((a) => a.executor))).toEqual(new Set([survivor]));
      expect(await kiln.deployments.get("lin-single")).toMatchObject({ state: "ready", readyReplicas: 1, executors: [survivor] });
      // The executor back does not take the deployment from the one that has it loaded.
      await restartExecutor(executorNamed(victim));
      await new Promise((r) => setTimeout(r, 1_000));
      expect(await kiln.deployments.get("lin-single")).toMatchObject({ state: "ready", executors: [survivor] });
      expect((await predict("lin-single", 1)).executor).toBe(survivor);
      // Later tests see executors serving nothing.
      await kiln.deployments.delete("lin-single");
      await kiln.deployments.delete("lin-online");
    }, 30_000);
  });

  it("runs a sequence over JetStream: a score after the fit it needs, settled by the scheduler process", async () => {
    await kiln.models.create("lin-chain", { estimator: "linear_regression" });
    const [fit, score] = await kiln.runtime.sequence([
      (rt) => rt.model("lin-chain").fit({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] }),
      (rt) => rt.model("lin-chain").score({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] }),
    ]);
    expect((await score.get()).r2).toBeCloseTo(1, 6);
    const scored = await score.info();
    expect(scored.model).toBe((await fit.get()).modelVersion);
    expect(scored.after).toEqual([fit.name]);
  }, 60_000);

  it("loses nothing when the scheduler is killed: a running job ends through its restart, and the job waiting for it then runs", async () => {
    const slow = await kiln.runtime.noop({ params: { sleep_ms: 1_500 } });
    const next = await kiln.runtime.noop({ after: slow });
    await running(slow.name);
    await scheduler.kill();
    scheduler = await startService("runtime-scheduler", schedulerEnv);
    const done = (await next.get()) as JobInfo;
    expect(done.state).toBe("succeeded");
    expect(done.after).toEqual([slow.name]);
    expect((await slow.info()).state).toBe("succeeded");
  }, 60_000);

  it("finishes a job on the other executor, once, when its executor is killed mid-job", async () => {
    const job = await kiln.runtime.noop({ params: { sleep_ms: 2_500 } });
    await running(job.name);
    const victim = (await job.info()).attempts[0]!.executor;
    const proc = executors.find((e, i) => `executors/${["exec-a", "exec-b"][i]}` === victim)!;
    await proc.kill();
    const info = (await job.get()) as JobInfo;
    expect(info.state).toBe("succeeded");
    expect(info.attempts).toHaveLength(2);
    expect(info.attempts[0]).toMatchObject({ executor: victim, error: { reason: "EXECUTOR_LOST" } });
    expect(info.attempts[1]!.executor).not.toBe(victim);
    executors.splice(executors.indexOf(proc), 1);
    await startExecutor(victim.slice("executors/".length));
  }, 60_000);

  it("keeps jobs no executor can take QUEUED, across a NATS restart, and runs them when one appears", async () => {
    const jobs = await Promise.all([1, 2, 3].map(() => kiln.runtime.require({ labels: ["gpu"] }).noop()));
    await new Promise((r) => setTimeout(r, 1_000));
    for (const job of jobs) expect((await job.info()).state).toBe("queued");
    await nats.restart();
    await startExecutor("exec-gpu", "gpu");
    for (const job of jobs) expect(((await job.get()) as JobInfo).attempts[0]!.executor).toBe("executors/exec-gpu");
  }, 60_000);

  it("ends a poison job FAILED after its attempts while other jobs keep flowing", async () => {
    const poison = await kiln.runtime.noop({ params: { fail: "boom" }, maxAttempts: 2 });
    const others = await Promise.all(Array.from({ length: 8 }, () => kiln.runtime.noop()));
    for (const job of others) expect(((await job.get()) as JobInfo).state).toBe("succeeded");
    const err = await poison.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toMatch(/failed after 2 attempts: boom/);
    expect((await poison.info()).attempts.map((a) => a.error?.message)).toEqual(["boom", "boom"]);
  }, 60_000);

  it("runs jobs submitted together on both executors, and drops a queued message whose job does not exist", async () => {
    const bus = await connectNatsBus({ servers: nats.url });
    const stray = `projects/default/jobs/${Date.now().toString(36)}stray`;
    await bus.publish("kiln.runtime.v1.queue.any", toBinary(QueuedJobSchema, create(QueuedJobSchema, { name: stray })));
    await bus.close();
    const handles = await kiln.runtime.submitMany(Array.from({ length: 60 }, (_, i) => ({ kind: "noop" as const, params: { i } })));
    const done = (await Promise.all(handles.map((h) => h.get()))) as JobInfo[];
    expect(done.map((j) => j.state)).toEqual(Array(60).fill("succeeded"));
    expect(new Set(done.map((j) => j.attempts[0]!.executor)).size).toBeGreaterThan(1);
    const dropped = () => executors.flatMap((e) => e.logs).filter((l) => l.msg === "dropping a queued message of a job that does not exist" && l.job === stray);
    await until("the stray message to be dropped", async () => (dropped().length ? true : undefined));
    // Acked, not put back: no executor sees it again.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(dropped()).toHaveLength(1);
  }, 60_000);

  it("the kiln CLI reaches each service at its own URL by the services' variables (no proxy in front)", async () => {
    await kiln.models.create("seen-by-cli", { estimator: "linear_regression" });
    const noop = await kiln.runtime.noop();
    const cli = join(import.meta.dirname, "../../../libs/cli/bin/kiln.js");
    const env = { ...process.env, KILN_URL: scheduler.url, KILN_STORE_URL: store.url, KILN_REGISTRY_URL: registry.url };
    const run = (...args: string[]) => promisify(execFile)(process.execPath, [cli, "--json", ...args], { env }).then((r) => JSON.parse(r.stdout) as { name: string }[]);
    expect((await run("datasets")).map((d) => d.name)).toContain("projects/default/datasets/train");
    expect((await run("models")).map((m) => m.name)).toContain("projects/default/models/seen-by-cli");
    expect((await run("jobs", "--limit", "1")).map((j) => j.name)).toEqual([noop.name]);
  });

  it("stops a cancelled job within a second and fails a job past its timeout with DEADLINE_EXCEEDED", async () => {
    const long = await kiln.runtime.noop({ params: { sleep_ms: 30_000 } });
    await running(long.name);
    const cancelledAt = Date.now();
    expect((await long.cancel()).state).toBe("cancelled");
    await until("the executor to drop the job", async () => {
      const busy = (await kiln.runtime.executors()).some((e) => e.runningJobs.includes(long.name));
      return busy ? undefined : true;
    });
    expect(Date.now() - cancelledAt).toBeLessThan(1_500);

    const slow = await kiln.runtime.noop({ params: { sleep_ms: 10_000 }, timeoutMs: 300 });
    const err = await slow.get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeadlineExceededError);
    expect((await slow.info()).attempts).toHaveLength(1);
  }, 60_000);

  it("with KILN_EXECUTOR_DIRECT_BLOBS, an executor reads chunks from the blob store it shares with the store, and others over HTTP", async () => {
    // Its data folder is the store's: dataset chunks are read in place; the registry's blobs live elsewhere, so model files come over HTTP.
    const direct = await startExecutor("exec-direct", "direct", { KILN_EXECUTOR_DIRECT_BLOBS: "true", KILN_DATA_DIR: join(dir, "store") });
    try {
      const runtime = kiln.runtime.require({ labels: ["direct"] });
      await kiln.models.create("lin-direct", { estimator: "linear_regression" });
      await (await runtime.model("lin-direct").fit({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] })).get();
      const predict = await runtime.model("lin-direct").predict("big");
      const predictions = ((await predict.get()) as Table).getChild("prediction")!;
      const big = linearRows(300_000);
      expect(predictions.length).toBe(300_000);
      let outOfPlace = 0;
      for (let i = 0; i < big.length; i++) if (Math.abs(predictions.get(i) - big[i]!.y) > 1e-3) outOfPlace++;
      expect(outOfPlace).toBe(0);
      expect((await predict.info()).attempts[0]!.executor).toBe("executors/exec-direct");
      const said = direct.logs.map((l) => l.msg);
      expect(said).toContain("reading chunks straight from the blob store");
      expect(said).toContain("a chunk is not readable in the blob store; fetching such chunks over HTTP");
    } finally {
      await direct.stop();
      executors.splice(executors.indexOf(direct), 1);
    }
  }, 60_000);
});
