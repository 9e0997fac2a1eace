import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsServer } from "@kiln/bus/testing";
import { EVERY_PROJECT, mintToken } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { startService, type ServiceProcess } from "./processes.js";

const SECRET = "distributed-secret-0123456789abcdef0123";

describe("separate processes checking tokens: an executor kept from the secret works with a KILN_TOKEN of role service", () => {
  let dir: string;
  let nats: NatsServer;
  const processes: ServiceProcess[] = [];
  let kiln: Kiln;
  let withToken: ServiceProcess;
  let withReadToken: ServiceProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-dist-auth-"));
    nats = await startNatsServer({ storeDir: join(dir, "nats") });
    const common = { KILN_BUS: "nats", KILN_NATS_URL: nats.url, KILN_PORT: "0", KILN_AUTH_SECRETS: SECRET };
    const store = await startService("store", { ...common, KILN_DATA_DIR: join(dir, "store") });
    const registry = await startService("registry", { ...common, KILN_DATA_DIR: join(dir, "registry") });
    const peers = { KILN_STORE_URL: store.url, KILN_REGISTRY_URL: registry.url };
    const scheduler = await startService("runtime-scheduler", { ...common, ...peers, KILN_DATA_DIR: join(dir, "scheduler") });
    processes.push(store, registry, scheduler);
    // Executors on other machines: no secret, a token each.
    const executorEnv = (id: string, token: string) => ({ KILN_BUS: "nats", KILN_NATS_URL: nats.url, ...peers, KILN_URL: scheduler.url, KILN_SCHEDULER_URL: scheduler.url, KILN_EXECUTOR_ID: id, KILN_EXECUTOR_HEARTBEAT_MS: "200", KILN_TOKEN: token });
    withToken = await startService("executor", executorEnv("gpu-box", mintToken(SECRET, { subject: "gpu-box", role: "service", projects: [EVERY_PROJECT] })));
    withReadToken = await startService("executor", executorEnv("stray", mintToken(SECRET, { subject: "stray", role: "read", projects: [EVERY_PROJECT] })));
    processes.push(withToken, withReadToken);
    kiln = await Kiln.connect({ url: scheduler.url, services: { store: store.url, registry: registry.url }, token: mintToken(SECRET, { subject: "ada", role: "write", projects: ["default"] }) });
  }, 60_000);

  afterAll(async () => {
    kiln?.close();
    for (const p of processes.reverse()) await p.stop();
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("fits and predicts on the executor with the service token, storing the version as the submitter's; the one with a read token gets no work and says why", async () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ a: i, b: i % 7, y: 2 * i - (i % 7) }));
    await kiln.datasets.put("train", rows);
    await kiln.models.create("lin", { estimator: "linear_regression" });
    const fit = await kiln.runtime.model("lin").fit({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] });
    expect(await fit.get()).toMatchObject({ modelVersion: "projects/default/models/lin/versions/2" });
    expect((await fit.info()).attempts.map((a) => a.executor)).toEqual(["executors/gpu-box"]);
    expect((await kiln.models.get("lin:2")).author).toBe("ada");
    const predicted = (await (await kiln.runtime.model("lin").predict({ dataset: "train", columns: ["a", "b"] }, { output: "scores" })).get()) as import("apache-arrow").Table;
    expect(predicted.numRows).toBe(100);
    expect((await kiln.datasets.versions("scores")).map((v) => v.author)).toEqual(["ada"]);

    expect((await kiln.runtime.executors()).map((e) => e.name)).toEqual(["executors/gpu-box"]);
    expect(withReadToken.logs.find((l) => l.level === 50)).toMatchObject({ msg: expect.stringContaining("the scheduler refuses this executor's token"), error: expect.stringContaining("stray's token (role read) cannot call ExecutorService/Heartbeat") });
  }, 60_000);
});
