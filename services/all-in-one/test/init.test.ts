import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { embeddedServer } from "./embedded-server.js";
import { cli } from "./helpers.js";

const run = promisify(execFile);
const SDK = join(import.meta.dirname, "../../../libs/sdk");

describe("kiln init: a project that trains a model on Kiln and serves it, as made", () => {
  const server = embeddedServer("init");
  const { kiln: kilnCli, kilnFails } = cli(() => server.url, () => server.dir);

  it("scaffolds the project, whose scripts train, deploy and predict against the server", async () => {
    expect(await kilnCli("init", "churn")).toBe(`made churn in ${join(server.dir, "churn")}: kiln.json, package.json, data.csv, train.mjs, predict.mjs, README.md\nnext: cd churn && npm install && npm run train && npm run predict\n`);
    const project = join(server.dir, "churn");
    expect(JSON.parse(await readFile(join(project, "kiln.json"), "utf8"))).toMatchObject({ model: "churn", deployment: "churn", estimator: "logistic_regression", target: "label" });
    // What `npm install` would give it: @kiln/sdk (this repository's, linked).
    await mkdir(join(project, "node_modules", "@kiln"), { recursive: true });
    await symlink(SDK, join(project, "node_modules", "@kiln", "sdk"), "dir");
    const env = { ...process.env, KILN_URL: server.url };

    const trained = await run(process.execPath, ["train.mjs"], { cwd: project, env });
    expect(trained.stdout).toMatch(/^trained projects\/default\/models\/churn\/versions\/2: \{"training_score":0\.9\d*\}\ndeployment churn: projects\/default\/models\/churn\/versions\/2 ready\n$/);
    expect(((await server.kiln.datasets.get("churn-x")) as import("apache-arrow").Table).numRows).toBe(200);
    const predicted = await run(process.execPath, ["predict.mjs"], { cwd: project, env });
    expect(predicted.stdout).toBe('{"prediction":1}\n{"prediction":0}\n');

    // Training again makes a new version, and the deployment moves to it.
    const again = await run(process.execPath, ["train.mjs"], { cwd: project, env });
    expect(again.stdout).toContain("deployment churn: projects/default/models/churn/versions/3 ready");
    expect((await server.kiln.deployments.get("churn")).modelVersion).toBe("projects/default/models/churn/versions/3");
    expect(((await server.kiln.datasets.get("churn-x")) as import("apache-arrow").Table).numRows).toBe(200); // replaced, not appended
  });

  it("refuses a folder that is not empty, and a name no model can have, writing nothing", async () => {
    const refused = await kilnFails("init", "churn");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("is not empty");
    expect((await kilnFails("init", "bad-name", "--name", "no spaces")).stderr).toContain('"no spaces" cannot name a model');
    expect(await readdir(server.dir)).not.toContain("bad-name");
  });
});
