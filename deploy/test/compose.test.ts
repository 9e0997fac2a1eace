import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { composePlan, readCompose } from "./compose-plan.js";
import { hasEntryPoint, undocumented } from "./documented.js";
import { DEPLOY } from "./plan.js";
import { describeThroughProxy } from "./through-proxy.js";

const COMPOSE = join(DEPLOY, "compose.yaml");

describe("deploy/compose.yaml and deploy/Dockerfile", () => {
  it("run each Kiln service from an entry point of the image, with documented variables, NATS, MongoDB and S3", () => {
    const plan = composePlan(COMPOSE);
    expect(plan.kiln.map((p) => p.name)).toEqual(["store", "registry", "tracking", "runtime-scheduler", "executor"]);
    for (const p of plan.kiln) {
      expect(hasEntryPoint(p.script), p.script).toBe(true);
      expect(undocumented(p.env), p.name).toEqual([]);
      expect(p.env).toMatchObject({ KILN_HOST: "0.0.0.0", KILN_BUS: "nats", KILN_METADATA: "mongodb", KILN_BLOBS: "s3" });
    }
    // Each service its own database: services never share tables.
    const databases = plan.kiln.filter((p) => p.port !== undefined).map((p) => p.env.KILN_MONGODB_DATABASE);
    expect(new Set(databases).size).toBe(databases.length);
    expect(plan.kiln.find((p) => p.name === "executor")!.replicas).toBe(2);
    expect(plan.proxy.caddyfile).toBe(join(DEPLOY, "proxy/Caddyfile"));
  });

  it("wait for a service's /readyz before starting what needs it", () => {
    const file = readCompose(COMPOSE);
    for (const p of composePlan(COMPOSE).kiln.filter((k) => k.port !== undefined)) {
      expect(JSON.stringify(file.services[p.name]!.healthcheck), p.name).toContain(`127.0.0.1:${p.port}/readyz`);
    }
    expect(file.services.proxy!.depends_on).toMatchObject({ store: { condition: "service_healthy" }, "runtime-scheduler": { condition: "service_healthy" } });
  });

  it("build the image as CI does, in the folder the commands are relative to", () => {
    const dockerfile = readFileSync(join(DEPLOY, "Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^WORKDIR \/kiln$/m);
    expect(dockerfile).toMatch(/npm ci .*&& npx turbo run build/);
    const cmd = JSON.parse(/^CMD (.*)$/m.exec(dockerfile)![1]!) as string[];
    expect(hasEntryPoint(cmd[1]!)).toBe(true);
    // .npmrc (onnxruntime-node's install skipped) goes into the build with the rest of the repository.
    expect(readFileSync(join(DEPLOY, "../.dockerignore"), "utf8")).not.toMatch(/npmrc/);
  });
});

describeThroughProxy("the compose file's stack", () => composePlan(COMPOSE), (names) => expect(names).toHaveLength(2));
