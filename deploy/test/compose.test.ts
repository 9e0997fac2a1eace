import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { composePlan, readCompose } from "./compose-plan.js";
import { hasEntryPoint, undocumented } from "./documented.js";
import { COMPOSE_SHELL } from "./operator.js";
import { DEPLOY, REPO } from "./plan.js";
import { describeThroughProxy } from "./through-proxy.js";

const COMPOSE = join(DEPLOY, "compose.yaml");

/** Whether a path is left out of the build context by .dockerignore's patterns (no "!" exceptions in ours). */
function dockerignored(patterns: string): (path: string) => boolean {
  const globs = patterns.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const regexes = globs.map((g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*\*\//g, "\0").replace(/\*/g, "[^/]*").replace(/\0/g, "(.*/)?")}(/|$)`));
  return (path) => regexes.some((r) => r.test(path));
}

describe("deploy/compose.yaml and deploy/Dockerfile", () => {
  it("run each Kiln service from an entry point of the image, with documented variables, NATS, MongoDB and S3", () => {
    const plan = composePlan(COMPOSE, COMPOSE_SHELL);
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

  it("refuse to start without the secret tokens are signed with, and give it to every Kiln service", () => {
    expect(() => composePlan(COMPOSE)).toThrow(/KILN_AUTH_SECRETS: set KILN_AUTH_SECRETS to a secret of 32 or more characters/);
    for (const p of composePlan(COMPOSE, COMPOSE_SHELL).kiln) expect(p.env.KILN_AUTH_SECRETS, p.name).toBe(COMPOSE_SHELL.KILN_AUTH_SECRETS);
  });

  it("wait for a service's /readyz before starting what needs it", () => {
    const file = readCompose(COMPOSE);
    for (const p of composePlan(COMPOSE, COMPOSE_SHELL).kiln.filter((k) => k.port !== undefined)) {
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
    // The build context is the repository as git has it: .dockerignore leaves out only what is built or installed.
    const ignored = dockerignored(readFileSync(join(REPO, ".dockerignore"), "utf8"));
    const tracked = execFileSync("git", ["ls-files"], { cwd: REPO, encoding: "utf8" }).split("\n").filter(Boolean);
    expect(tracked.filter(ignored)).toEqual([]);
    expect(["node_modules/yaml/package.json", "libs/core/dist/index.js", "libs/proto/src/gen/x_pb.ts", ".kiln/store.sqlite"].filter(ignored)).toHaveLength(4);
  });
});

describeThroughProxy("the compose file's stack", () => composePlan(COMPOSE, COMPOSE_SHELL), (names) => expect(names).toHaveLength(2));
