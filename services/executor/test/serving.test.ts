import { afterEach, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { createMemoryBus, type EventBus } from "@kiln/bus";
import { createLogger } from "@kiln/core";
import { DeploymentAssignmentSchema, ServedState } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersionInfo } from "@kiln/sdk";
import type { ExecutorDeps } from "../src/deps.js";
import { Serving } from "../src/serving.js";

const VERSION = "projects/default/models/m/versions/1";
const assignment = create(DeploymentAssignmentSchema, { deployment: "projects/default/deployments/d", modelVersion: VERSION, subject: "kiln.runtime.v1.serve.test", queue: "serve_test" });

/** Executor deps whose registry is away for the first `awayFor` loads: enough for Serving to load a model (warm-up is skipped without a signature). */
function depsWithRegistryAway(bus: EventBus, awayFor: number): { deps: ExecutorDeps; loads: () => number } {
  let loads = 0;
  const models = {
    async version(name: string): Promise<ModelVersionInfo> {
      if (++loads <= awayFor) throw new Error("registry unavailable");
      return { name, sha256: "00", metadata: {}, signature: undefined } as unknown as ModelVersionInfo;
    },
    file: async () => new Uint8Array(),
  };
  const deps = { name: "executors/t", bus, logger: createLogger("test", "silent"), models } as unknown as ExecutorDeps;
  return { deps, loads: () => loads };
}

const until = async (check: () => boolean, ms = 3_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("serving deployments on an executor", () => {
  let bus: EventBus;
  let serving: Serving | undefined;
  afterEach(async () => {
    await serving?.stop();
    await bus?.close();
  });

  it("tries a load that failed again on later heartbeats, backing off, and then serves", async () => {
    bus = createMemoryBus();
    const { deps, loads } = depsWithRegistryAway(bus, 2);
    let changes = 0;
    serving = new Serving(deps, () => changes++, 40);
    const state = () => serving!.status()[0]?.state;

    serving.reconcile([assignment]);
    await until(() => state() === ServedState.FAILED);
    expect(serving.status()[0]!.error?.message).toContain("registry unavailable");
    // A heartbeat right after does not try again: the first retry waits 40 ms, the second 80.
    serving.reconcile([assignment]);
    expect(loads()).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    serving.reconcile([assignment]);
    await until(() => loads() === 2 && state() === ServedState.FAILED);
    await new Promise((r) => setTimeout(r, 50));
    serving.reconcile([assignment]);
    expect(loads()).toBe(2);
    await new Promise((r) => setTimeout(r, 40));
    serving.reconcile([assignment]);
    await until(() => state() === ServedState.READY);
    expect(loads()).toBe(3);
    expect(changes).toBe(3);
    // Once it serves, heartbeats leave it be.
    serving.reconcile([assignment]);
    expect(loads()).toBe(3);
  });

  it("stops serving a deployment no longer assigned, and answers nothing for it after", async () => {
    bus = createMemoryBus();
    const { deps } = depsWithRegistryAway(bus, 0);
    serving = new Serving(deps, () => {});
    serving.reconcile([assignment]);
    await until(() => serving!.status()[0]?.state === ServedState.READY);
    serving.reconcile([]);
    expect(serving.status()).toEqual([]);
    await until(() => false, 50).catch(() => {});
    await expect(bus.request(assignment.subject, new Uint8Array(), { timeoutMs: 200 })).rejects.toMatchObject({ reason: "NO_RESPONDERS" });
  });
});
