import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { STORE_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import { EVERY_PROJECT, mintToken, type Role, type RunningProcess } from "@kiln/core";
import { startTestIdentityProvider, type TestIdentityProvider } from "@kiln/core/testing";
import { LogisticRegression } from "@kiln/ml";
import { Health, HealthCheckResponse_ServingStatus } from "@kiln/proto/health/v1/health_pb";
import { Kiln, KilnApiError, PermissionDeniedError, UnauthenticatedError } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { cli, KILN_BIN, putInTwoParts, unique } from "./helpers.js";

const SECRET = "s".repeat(24) + "0123456789abcdef";
const RETIRED = "r".repeat(40);

async function failure(p: Promise<unknown>): Promise<KilnApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KilnApiError) return e;
    throw e;
  }
  throw new Error("expected the call to fail");
}

describe("tokens: an embedded server with KILN_AUTH_SECRETS", () => {
  let dir: string;
  let running: RunningProcess;
  let url: string;
  const token = (role: Role, projects: string[], secret = SECRET, expiresInSeconds?: number) => mintToken(secret, { subject: `${role}-user`, role, projects, ...(expiresInSeconds !== undefined && { expiresInSeconds }) });
  const connect = (t: string | undefined, project?: string) => Kiln.connect({ url, token: t, ...(project && { project }) });
  const { kiln, kilnFails } = cli(() => url, undefined, () => ({ ...process.env, KILN_TOKEN: token("read", ["default"]), KILN_AUTH_SECRETS: SECRET }));
  const noToken = cli(() => url, undefined, () => ({ ...process.env, KILN_TOKEN: "" }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-auth-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent", KILN_AUTH_SECRETS: `${SECRET},${RETIRED}`, KILN_CORS_ORIGINS: "http://app.example" }, false);
    url = running.server.url;
  });
  afterAll(async () => {
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a call without a token, with a bad one and with an expired one, saying which", async () => {
    const none = await failure((await connect(undefined)).datasets.list());
    expect(none).toBeInstanceOf(UnauthenticatedError);
    expect([none.reason, none.message]).toEqual(["TOKEN_REQUIRED", expect.stringContaining("KILN_TOKEN")]);
    const forged = await failure((await connect(token("admin", [EVERY_PROJECT], "f".repeat(32)))).datasets.list());
    expect(forged.reason).toBe("TOKEN_INVALID");
    const expired = await failure((await connect(token("read", ["default"], SECRET, -1))).datasets.list());
    expect([expired.reason, expired.message]).toEqual(["TOKEN_EXPIRED", expect.stringContaining("read-user")]);
    // A token signed by the second secret still works (rotation: retire it once tokens are re-minted).
    await expect((await connect(token("read", ["default"], RETIRED))).datasets.list()).resolves.toBeDefined();
  });

  it("says whom it takes the caller for (AuthService/WhoAmI), and refuses one without a token", async () => {
    const me = await (await connect(mintToken(SECRET, { subject: "ops", role: "admin", projects: ["default", "fraud"], expiresInSeconds: 3600 }))).whoami();
    expect(me).toMatchObject({ tokensChecked: true, subject: "ops", role: "admin", projects: ["default", "fraud"], issuer: "kiln" });
    expect(me.expireTime!.getTime()).toBeGreaterThan(Date.now() + 3_500_000);
    expect((await failure((await connect(undefined)).whoami())).reason).toBe("TOKEN_REQUIRED");
  });

  it("leaves health checks open to probes", async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    const health = createClient(Health, createGrpcTransport({ baseUrl: url }));
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
  });

  it("lets a writer put data, fit and predict on the executor, and read it all back; a reader only read", async () => {
    const writer = await connect(token("write", ["default"]));
    const name = unique("features");
    const X = Array.from({ length: 200 }, (_, i) => ({ a: Math.sin(i), b: Math.cos(i * 3) }));
    await writer.datasets.put(name, X);
    await writer.datasets.put(`${name}-y`, X.map((r) => ({ y: r.a + r.b > 0 ? 1 : 0 })));
    const model = unique("clf");
    await writer.models.create(model, { estimator: "logistic_regression" });
    const fit = await writer.runtime.model(model).fit(name, `${name}-y`);
    const fitted = await fit.get();
    expect(fitted.modelVersion).toBe(`projects/default/models/${model}/versions/2`);
    // Who did it is recorded: the job's creator, and the fitted version's author (the executor stored it on the submitter's behalf).
    expect((await fit.info()).creator).toBe("write-user");
    expect((await writer.models.get(`${model}:2`)).author).toBe("write-user");
    expect((await writer.models.get(`${model}:1`)).author).toBe("write-user");
    // A tracked model's jobs record runs for whoever submitted them.
    const tracked = unique("tracked");
    await writer.models.setMetadata(`${model}:2`, { tracking: { default: tracked } });
    const job = await writer.runtime.model(`${model}:2`).predict(name);
    let rows = 0;
    for await (const chunk of job.results()) rows += chunk.numRows;
    expect(rows).toBe(200);
    await job.get();
    const deadline = Date.now() + 10_000;
    let runs: Awaited<ReturnType<ReturnType<Kiln["experiment"]>["runs"]>> = [];
    while (runs.length === 0 && Date.now() < deadline) {
      runs = await writer.experiment(tracked).runs().catch(() => []);
      if (runs.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(runs.map((r) => r.creator)).toEqual(["write-user"]);

    const reader = await connect(token("read", ["default"]));
    expect(((await reader.datasets.get(name)) as import("apache-arrow").Table).numRows).toBe(200);
    const denied = await failure(reader.datasets.put(unique("nope"), [{ a: 1 }]));
    expect(denied).toBeInstanceOf(PermissionDeniedError);
    expect([denied.reason, denied.message]).toEqual(["ROLE_TOO_LOW", expect.stringContaining("it needs write")]);
    await expect(reader.runtime.model(model).predict(name)).rejects.toMatchObject({ reason: "ROLE_TOO_LOW" });
    // Only a service stores a version on someone else's behalf; nothing is stored otherwise.
    await expect(writer.models.put(model, new LogisticRegression().fit([[0], [1]], [0, 1]), { onBehalfOf: "someone-else" })).rejects.toMatchObject({ reason: "ON_BEHALF_NOT_ALLOWED" });
    expect((await writer.models.log(model)).map((v) => v.version).sort()).toEqual([1, 2]);
  });

  it("lets an app holding a read token predict online, by the SDK and the inference protocol's REST form, but not deploy", async () => {
    const writer = await connect(token("write", ["default"]));
    const model = unique("online");
    const X = Array.from({ length: 100 }, (_, i) => [Math.sin(i), Math.cos(i * 3)]);
    await writer.models.put(model, new LogisticRegression().fit(X, X.map(([a, b]) => (a! + b! > 0 ? 1 : 0))));
    const id = unique("serve");
    await writer.deployments.create(id, { model });
    const app = await connect(token("read", ["default"]));
    const predicted = await app.deployments.predict(id, [[2, 2], [-2, -2]]);
    expect(Array.from(predicted.getChild("prediction")!.toArray() as BigInt64Array, Number)).toEqual([1, 0]);
    const rest = await fetch(`${url}/v2/models/${id}/infer`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token("read", ["default"])}` },
      body: JSON.stringify({ inputs: [{ name: "X", shape: [1, 2], datatype: "FP64", data: [2, 2] }] }),
    });
    expect(rest.status).toBe(200);
    expect((await failure(app.deployments.create(unique("mine"), { model }))).reason).toBe("ROLE_TOO_LOW");
    const ops = await connect(token("admin", ["default"]));
    await ops.deployments.update(id, { replicas: 1 });
    expect(await app.deployments.get(id)).toMatchObject({ creator: "write-user", updater: "admin-user" });
  });

  it("records who wrote each dataset version: the writer, or the submitter of the job whose results it holds", async () => {
    const writer = await connect(token("write", ["default"]));
    const name = unique("authored");
    await writer.datasets.put(name, [{ a: 1, b: 2 }]);
    const resumable = await Kiln.connect({ url, token: token("admin", ["default"]), writeMode: "resumable" });
    await resumable.datasets.put(name, [{ a: 3, b: 4 }]);
    const model = unique("lin");
    await writer.models.create(model, { estimator: "linear_regression" });
    await (await writer.runtime.model(model).fit({ dataset: name, columns: ["a"] }, { dataset: name, columns: ["b"] })).get();
    const scores = unique("scores");
    await (await writer.runtime.model(model).predict({ dataset: name, columns: ["a"] }, { output: scores })).get();
    expect((await writer.datasets.versions(name)).map((v) => [v.version, v.author])).toEqual([[2, "admin-user"], [1, "write-user"]]);
    expect((await writer.datasets.versions(scores)).map((v) => v.author)).toEqual(["write-user"]);
    await expect(writer.datasets.put(name, [{ a: 5, b: 6 }], { onBehalfOf: "someone-else" })).rejects.toMatchObject({ reason: "ON_BEHALF_NOT_ALLOWED" });
    expect(await writer.datasets.versions(name)).toHaveLength(2);
  });

  it("keeps a token to its projects, also when a request names another project deep inside, and creates nothing then", async () => {
    const writer = await connect(token("write", ["default"]));
    const elsewhere = await connect(token("write", ["default"]), "fraud");
    const name = unique("other");
    const denied = await failure(elsewhere.datasets.put(name, [{ a: 1 }]));
    expect([denied.reason, denied.message]).toEqual(["PROJECT_NOT_ALLOWED", "write-user's token does not reach project fraud; it reaches default"]);
    const admin = await connect(token("admin", [EVERY_PROJECT]), "fraud");
    expect((await admin.datasets.list()).map((d) => d.name)).not.toContain(`projects/fraud/datasets/${name}`);
    // A job in its own project that reads a dataset of another one.
    await admin.datasets.put(name, [{ a: 1 }]);
    const crossing = await failure(writer.runtime.model("any").predict({ dataset: `projects/fraud/datasets/${name}` }));
    expect(crossing.reason).toBe("PROJECT_NOT_ALLOWED");
  });

  it("leaves deleting to admins", async () => {
    const writer = await connect(token("write", ["default"]));
    const name = unique("keep");
    await writer.datasets.put(name, [{ a: 1 }]);
    expect((await failure(writer.datasets.drop(name))).reason).toBe("ROLE_TOO_LOW");
    await (await connect(token("admin", ["default"]))).datasets.drop(name);
    expect((await writer.datasets.list()).map((d) => d.name)).not.toContain(`projects/default/datasets/${name}`);
  });

  it("checks the plain HTTP routes: chunks, inference REST, metrics", async () => {
    const chunk = `${url}${STORE_CHUNK_PATH_PREFIX}${"0".repeat(64)}`;
    const anonymous = await fetch(chunk);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="kiln"');
    expect(await anonymous.text()).toContain("KILN_TOKEN");
    expect((await fetch(chunk, { headers: { authorization: `Bearer ${token("read", ["default"])}` } })).status).toBe(404);
    const put = await fetch(chunk, { method: "PUT", body: "x", headers: { authorization: `Bearer ${token("read", ["default"])}` } });
    expect([put.status, await put.text()]).toEqual([403, expect.stringContaining("it needs write")]);
    // Refused only once the body is through, as a proxy in between needs.
    const slow = new Uint8Array(64 * 1024);
    expect(await putInTwoParts(url, `${STORE_CHUNK_PATH_PREFIX}${"0".repeat(64)}`, slow)).toEqual({ status: 401, answeredEarly: false });
    expect(await putInTwoParts(url, `${STORE_CHUNK_PATH_PREFIX}${"0".repeat(64)}`, slow, { authorization: `Bearer ${token("read", ["default"])}` })).toEqual({ status: 403, answeredEarly: false });

    const infer = `${url}/v2/models/${encodeURIComponent("projects/fraud/deployments/d")}/infer`;
    const body = JSON.stringify({ inputs: [] });
    expect((await fetch(infer, { method: "POST", body })).status).toBe(401);
    const other = await fetch(infer, { method: "POST", body, headers: { authorization: `Bearer ${token("write", ["default"])}` } });
    expect([other.status, await other.text()]).toEqual([403, expect.stringContaining("project fraud")]);
    // A graph's full name as plain path segments is checked against its project too.
    const graph = await fetch(`${url}/v2/models/projects/fraud/inferenceGraphs/g/infer`, { method: "POST", body, headers: { authorization: `Bearer ${token("write", ["default"])}` } });
    expect([graph.status, await graph.text()]).toEqual([403, expect.stringContaining("project fraud")]);
    // KServe's V1 routes the same way; its list of models is the default project's.
    for (const path of [`/v1/models/${encodeURIComponent("projects/fraud/deployments/d")}:predict`, "/v1/models/projects/fraud/inferenceGraphs/g:predict"]) {
      const v1 = await fetch(`${url}${path}`, { method: "POST", body: JSON.stringify({ instances: [[1]] }), headers: { authorization: `Bearer ${token("write", ["default"])}` } });
      expect([v1.status, await v1.text()]).toEqual([403, expect.stringContaining("project fraud")]);
    }
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${token("read", ["fraud"])}` } })).status).toBe(403);

    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token("read", ["default"])}` } })).status).toBe(403);
    const scraped = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token("read", [EVERY_PROJECT])}` } });
    expect([scraped.status, await scraped.text()]).toEqual([200, expect.stringContaining("kiln_executors_alive")]);
  });

  it("stores a tracking artifact of several chunks by PUT with the token, and reads it back", async () => {
    const writer = await connect(token("write", ["default"]));
    const experiment = unique("exp");
    const exp = writer.experiment(experiment);
    const bytes = new Uint8Array(9 * 1024 * 1024).map((_, i) => i % 251);
    await exp.run(async (run) => {
      run.logMetric("auc", 0.9);
      await run.logArtifact(bytes, "weights.bin");
    });
    const back = (await (await connect(token("read", ["default"]))).experiment(experiment).artifact("weights.bin")) as Uint8Array;
    expect((await exp.runs()).map((r) => r.creator)).toEqual(["write-user"]);
    expect(back.length).toBe(bytes.length);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
  });

  it("checks MLflow's clients' tokens (MLFLOW_TRACKING_TOKEN, sent as a bearer): a read token searches, a write token logs, each in its projects", async () => {
    const call = (path: string, body: object, t?: string) =>
      fetch(new URL(path, url), { method: "POST", headers: { "content-type": "application/json", ...(t && { authorization: `Bearer ${t}` }) }, body: JSON.stringify(body) });
    const name = unique("mlflow-auth");
    expect((await call("/api/2.0/mlflow/experiments/create", { name })).status).toBe(401);
    expect((await call("/api/2.0/mlflow/experiments/create", { name }, token("read", ["default"]))).status).toBe(403);
    const created = await call("/api/2.0/mlflow/experiments/create", { name }, token("write", ["default"]));
    expect(created.status).toBe(200);
    const search = await call("/api/2.0/mlflow/experiments/search", { max_results: 1000, filter: `name = '${name}'` }, token("read", ["default"]));
    expect(((await search.json()) as { experiments: unknown[] }).experiments).toHaveLength(1);
    // The project in the path is the one checked.
    expect((await call("/projects/fraud/api/2.0/mlflow/experiments/create", { name }, token("write", ["default"]))).status).toBe(403);
    expect((await call("/projects/fraud/api/2.0/mlflow/experiments/create", { name }, token("write", ["fraud"]))).status).toBe(200);
    // MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD: the token as the password of Basic credentials.
    const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ann:${password}`).toString("base64")}` });
    const asBasic = (password: string) => fetch(new URL(`/api/2.0/mlflow/experiments/get-by-name?experiment_name=${encodeURIComponent(name)}`, url), { headers: basic(password) });
    expect((await asBasic(token("read", ["default"]))).status).toBe(200);
    expect((await asBasic("not-a-token")).status).toBe(401);
  });

  it("asks of MLflow's calls the role Kiln's own calls need: deleting an experiment or a registered model is an admin's, and a version's author is the caller", async () => {
    const call = (method: string, path: string, body: object, t: string) =>
      fetch(new URL(`/api/2.0/mlflow/${path}`, url), { method, headers: { "content-type": "application/json", authorization: `Bearer ${t}` }, body: JSON.stringify(body) });
    const writer = token("write", ["default"]);
    const admin = token("admin", ["default"]);
    const answer = async (res: Response) => [res.status, (await res.json()) as Record<string, any>] as const;

    const [, experiment] = await answer(await call("POST", "experiments/create", { name: unique("mlflow-roles") }, writer));
    const [, created] = await answer(await call("POST", "runs/create", { experiment_id: experiment.experiment_id, start_time: Date.now() }, writer));
    const artifacts = created.run.info.artifact_uri.slice("mlflow-artifacts:/".length);
    const put = await fetch(new URL(`/api/2.0/mlflow-artifacts/artifacts/${artifacts}/model/MLmodel`, url), { method: "PUT", headers: { authorization: `Bearer ${writer}` }, body: "flavors: {}\n" });
    expect(put.status).toBe(200);
    const name = unique("mlflow-roles");
    expect((await call("POST", "registered-models/create", { name }, token("read", ["default"]))).status).toBe(403);
    expect((await answer(await call("POST", "registered-models/create", { name }, writer)))[0]).toBe(200);
    const [status, version] = await answer(await call("POST", "model-versions/create", { name, source: `${created.run.info.artifact_uri}/model` }, writer));
    expect([status, version.model_version.user_id]).toEqual([200, "write-user"]);
    expect((await (await connect(writer)).models.get(`${name}:1`)).author).toBe("write-user");

    expect((await call("DELETE", "registered-models/delete", { name }, writer)).status).toBe(403);
    expect((await call("POST", "experiments/delete", { experiment_id: experiment.experiment_id }, writer)).status).toBe(403);
    expect((await call("DELETE", "registered-models/delete", { name }, admin)).status).toBe(200);
    expect((await call("POST", "experiments/delete", { experiment_id: experiment.experiment_id }, admin)).status).toBe(200);
    expect((await call("POST", "experiments/restore", { experiment_id: experiment.experiment_id }, writer)).status).toBe(403);
    expect((await call("POST", "experiments/restore", { experiment_id: experiment.experiment_id }, admin)).status).toBe(200);
  });

  it("takes the token from browsers: CORS lets them send it, Connect JSON carries it", async () => {
    const preflight = await fetch(`${url}/kiln.store.v1.StoreService/ListDatasets`, {
      method: "OPTIONS",
      headers: { origin: "http://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type" },
    });
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    const call = (headers: Record<string, string>) => fetch(`${url}/kiln.store.v1.StoreService/ListDatasets`, { method: "POST", body: "{}", headers: { "content-type": "application/json", ...headers } });
    const refused = await call({});
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([401, "unauthenticated"]);
    expect((await call({ authorization: `Bearer ${token("read", ["default"])}` })).status).toBe(200);
  });

  it("the CLI sends KILN_TOKEN, mints tokens where the secret is, and says what a token is", async () => {
    await kiln("datasets");
    expect(await kiln("whoami")).toMatch(/subject:\s+read-user\nrole:\s+read\nprojects:\s+default\nexpires:\s+never\nissuer:\s+kiln/);
    const refused = await noToken.kilnFails("datasets");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("kiln tokens:create");
    const minted = (await kiln("tokens:create", "ci-bot", "--role", "write", "--project", "default", "--project", "churn", "--expires", "2h")).trim();
    const shown = await kiln("tokens:show", minted);
    expect(shown).toMatch(/subject:\s+ci-bot/);
    expect(shown).toMatch(/role:\s+write/);
    expect(shown).toMatch(/projects:\s+default, churn/);
    await expect((await connect(minted)).datasets.put(unique("by-bot"), [{ a: 1 }])).resolves.toBeDefined();
    expect((await kilnFails("tokens:create", "x", "--role", "owner", "--project", "p")).stderr).toContain("--role takes one of read, write, admin, service");
    expect((await kilnFails("tokens:create", "x", "--role", "read")).stderr).toContain("--project");
    expect((await noToken.kilnFails("tokens:create", "x", "--role", "read", "--project", "p")).stderr).toContain("KILN_AUTH_SECRETS is not set here");
  });
});

describe("tokens: an embedded server taking an OpenID Connect provider's tokens (KILN_AUTH_ISSUER alone)", () => {
  let dir: string;
  let idp: TestIdentityProvider;
  let running: RunningProcess;
  let url: string;
  const person = (kiln_role: string | string[], kiln_projects: string[]) => ({ sub: "f3a1", preferred_username: "grace", aud: "kiln", kiln_role, kiln_projects });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-oidc-"));
    idp = await startTestIdentityProvider();
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent", KILN_AUTH_ISSUER: idp.issuer, KILN_AUTH_AUDIENCE: "kiln" }, false);
    url = running.server.url;
  });
  afterAll(async () => {
    await running?.stop();
    await idp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lets a person signed in at the provider put data, fit on the embedded executor and predict, as their role and projects allow", async () => {
    const grace = await Kiln.connect({ url, token: idp.token(person("write", ["default"])) });
    const name = unique("oidc");
    const X = Array.from({ length: 60 }, (_, i) => ({ a: i, b: i % 5 }));
    await grace.datasets.put(name, X);
    await grace.datasets.put(`${name}-y`, X.map((r) => ({ y: 3 * r.a - r.b })));
    const model = unique("lin");
    await grace.models.create(model, { estimator: "linear_regression" });
    const fit = await grace.runtime.model(model).fit(name, `${name}-y`);
    expect((await fit.get()).modelVersion).toBe(`projects/default/models/${model}/versions/2`);
    expect((await fit.info()).creator).toBe("grace");
    expect((await grace.models.get(`${model}:2`)).author).toBe("grace");
    const predictions = (await (await grace.runtime.model(model).predict(name)).get()) as import("apache-arrow").Table;
    expect(predictions.numRows).toBe(60);

    const viewer = await Kiln.connect({ url, token: idp.token(person("read", ["default"])) });
    expect((await failure(viewer.datasets.put(unique("no"), [{ a: 1 }]))).reason).toBe("ROLE_TOO_LOW");
    const elsewhere = await Kiln.connect({ url, token: idp.token(person("admin", ["fraud"])) });
    expect((await failure(elsewhere.datasets.list())).reason).toBe("PROJECT_NOT_ALLOWED");
    const foreign = await Kiln.connect({ url, token: mintToken("x".repeat(32), { subject: "mallory", role: "admin", projects: [EVERY_PROJECT] }) });
    expect((await failure(foreign.datasets.list())).reason).toBe("TOKEN_INVALID");
    const chunk = await fetch(`${url}${STORE_CHUNK_PATH_PREFIX}${"0".repeat(64)}`, { headers: { authorization: `Bearer ${idp.token(person("read", ["default"]))}` } });
    expect(chunk.status).toBe(404);
  });

  it("kiln login signs in by the provider's device login, keeps the login for this user alone, renews it as it expires, and kiln logout forgets it", async () => {
    const home = join(dir, "home");
    const env = { ...process.env, XDG_CONFIG_HOME: home, KILN_TOKEN: "", KILN_AUTH_ISSUER: idp.issuer, KILN_AUTH_CLIENT_ID: idp.clientId };
    idp.setAccessTokenSeconds(30); // shorter than the 60 s before expiry when a login is renewed: every call below renews it
    const login = spawn(process.execPath, [KILN_BIN, "login"], { env });
    let said = "";
    login.stderr.on("data", (piece: Buffer) => {
      said += piece.toString();
      const code = /enter the code (\S+)/.exec(said)?.[1];
      if (code && !said.includes("approved")) {
        said += "approved";
        idp.approve(code, person("write", ["default"]));
      }
    });
    const [exitCode] = (await once(login, "exit")) as [number];
    expect(exitCode).toBe(0);
    expect(said).toMatch(new RegExp(`open ${idp.issuer}/activate\\?code=KILN-\\d+ and enter the code KILN-\\d+`));
    expect(said).toContain("Signed in as grace");
    const stored = join(home, "kiln", "credentials.json");
    expect((await stat(stored)).mode & 0o777).toBe(0o600);

    // No KILN_TOKEN: the CLI (the SDK under it) sends the stored login's token.
    const { kiln: kilnCli, kilnFails } = cli(() => url, undefined, () => env);
    const refreshed = idp.refreshes();
    const csv = join(dir, "rows.csv");
    await writeFile(csv, "a,b\n1,2\n");
    const name = unique("by-login");
    await kilnCli("datasets:put", name, csv);
    expect(idp.refreshes()).toBe(refreshed);
    // A login about to expire is renewed (once, however many calls) and kept again.
    const kept = JSON.parse(await readFile(stored, "utf8")) as { token: string; expiresAt: number };
    await writeFile(stored, JSON.stringify({ ...kept, obtainedAt: Date.now() - 3_600_000, expiresAt: Date.now() + 2_000 }));
    expect(await kilnCli("datasets")).toContain(name);
    expect(idp.refreshes()).toBe(refreshed + 1);
    expect((JSON.parse(await readFile(stored, "utf8")) as { token: string }).token).not.toBe(kept.token);
    expect(JSON.parse(await kilnCli("--json", "whoami"))).toMatchObject({ tokensChecked: true, subject: "grace", role: "write", projects: ["default"], issuer: idp.issuer });
    const versions = JSON.parse(await kilnCli("--json", "datasets:log", name)) as { author: string }[];
    expect(versions.map((v) => v.author)).toEqual(["grace"]);
    await kilnCli("logout");
    await expect(stat(stored)).rejects.toMatchObject({ code: "ENOENT" });
    const refused = await kilnFails("datasets");
    expect(refused.stderr).toContain("TOKEN_REQUIRED");
  });
});
