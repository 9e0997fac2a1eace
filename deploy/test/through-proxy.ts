import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http2 from "node:http2";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Table } from "apache-arrow";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STORE_CHUNK_PATH_PREFIX, TRACKING_ARTIFACT_PATH_PREFIX } from "@kiln/contracts";
import { Kiln } from "@kiln/sdk";
import { REPO, type StackPlan } from "./plan.js";
import { startStack, type Stack } from "./stack.js";

/** y = 3a − 2b + 1 over a spread of a and b. */
function linearRows(n: number) {
  return Array.from({ length: n }, (_, i) => {
    const a = ((i * 37) % 101) / 10;
    const b = ((i * 53) % 97) / 10;
    return { a, b, y: 3 * a - 2 * b + 1 };
  });
}

const round = (v: unknown) => Math.round(Number(v) * 1000) / 1000;

/** A PUT of `bytes` to the store's chunk path for them on an open session: its status, once the stream closes. */
function putChunk(session: http2.ClientHttp2Session, bytes: Uint8Array, headers: Record<string, string>): Promise<number> {
  const path = `${STORE_CHUNK_PATH_PREFIX}${createHash("sha256").update(bytes).digest("hex")}`;
  return new Promise<number>((resolve, reject) => {
    const req = session.request({ ":method": "PUT", ":path": path, "content-length": String(bytes.length), ...headers });
    let status = 0;
    req.on("response", (h) => ((status = Number(h[":status"])), req.resume()));
    req.on("error", reject);
    req.on("close", () => resolve(status));
    req.end(bytes);
  });
}

/**
 * What a user does against a deployed Kiln, all through the proxy's one origin: the SDK and
 * CLI over gRPC (HTTP/2 cleartext), a browser's Connect over HTTP/1.1, plain HTTP for chunks,
 * artifacts, the inference protocol and metrics.
 */
export function describeThroughProxy(what: string, plan: () => StackPlan, expectExecutors: (names: string[]) => void): void {
  describe(`${what}, used through its proxy alone`, () => {
    let stack: Stack;
    let kiln: Kiln;

    beforeAll(async () => {
      stack = await startStack(plan());
      // services: {} so no KILN_*_URL of this machine's environment sends a call past the proxy.
      kiln = await Kiln.connect({ url: stack.url, services: {}, token: stack.token });
    }, 60_000);

    afterAll(async () => {
      kiln?.close();
      await stack?.stop();
    });

    it("stores and reads datasets (chunks by plain HTTP/2 through the proxy), fits and predicts on the executors", async () => {
      await kiln.datasets.put("train", linearRows(200));
      const big = linearRows(400_000).map(({ a, b }) => ({ a, b }));
      await kiln.datasets.put("big", big);
      const back = (await kiln.datasets.get("big")) as Table;
      expect(back.numRows).toBe(400_000);
      expect([...back.getChild("b")!.toArray().slice(0, 3)]).toEqual(big.slice(0, 3).map((r) => r.b));

      await kiln.models.create("lin", { estimator: "linear_regression" });
      const fit = await kiln.runtime.model("lin").fit({ dataset: "train", columns: ["a", "b"] }, { dataset: "train", columns: ["y"] });
      expect(await fit.get()).toMatchObject({ modelVersion: "projects/default/models/lin/versions/2" });
      // An executor process stored it (its own service token) on behalf of whoever submitted the job.
      expect((await fit.info()).creator).toBe("operator");
      expect((await kiln.models.get("lin:2")).author).toBe("operator");
      const predict = await kiln.runtime.model("lin").predict("big");
      let rows = 0;
      let wrong = 0;
      for await (const chunk of predict.results()) {
        const predictions = chunk.getChild("prediction")!;
        for (let i = 0; i < chunk.numRows; i++) {
          const { a, b } = big[rows + i]!;
          if (Math.abs(predictions.get(i) - (3 * a - 2 * b + 1)) > 1e-3) wrong++;
        }
        rows += chunk.numRows;
      }
      expect([rows, wrong]).toEqual([400_000, 0]);
      expectExecutors((await kiln.runtime.executors()).map((e) => e.name));
    }, 60_000);

    it("takes a 4 MiB chunk the store has, PUT 160 times, four at a time, on one connection", async () => {
      // Each answered once its body is through: answered before, the rest of each body reached
      // the store on a closed stream, and uploads through the proxy stalled for good within a
      // hundred such PUTs four at a time (a dataset written for the fourth time, in the benchmark).
      const bytes = randomBytes(4 * 1024 * 1024);
      const session = http2.connect(stack.url);
      const put = () => putChunk(session, bytes, { authorization: `Bearer ${stack.token}` });
      try {
        const statuses = [];
        statuses.push(await put());
        // Four at a time, as the SDK writes a dataset's chunks.
        for (let i = 0; i < 40; i++) statuses.push(...(await Promise.all([put(), put(), put(), put()])));
        expect(statuses[0]).toBe(201);
        expect(new Set(statuses.slice(1))).toEqual(new Set([200]));
      } finally {
        session.close();
      }
    }, 30_000);

    it("refuses 4 MiB PUTs without a token, four at a time, and the connection goes on serving", async () => {
      // Answered once the body is through, as a chunk it has is (an answer before it stalls streams through the proxy).
      const bytes = randomBytes(4 * 1024 * 1024);
      const session = http2.connect(stack.url);
      const put = (headers: Record<string, string> = {}) => putChunk(session, bytes, headers);
      try {
        const statuses = [];
        for (let i = 0; i < 20; i++) statuses.push(...(await Promise.all([put(), put(), put(), put()])));
        expect(new Set(statuses)).toEqual(new Set([401]));
        expect(await put({ authorization: `Bearer ${stack.token}` })).toBe(201);
      } finally {
        session.close();
      }
    }, 30_000);

    it("serves a deployment, by the SDK and by the inference protocols' REST forms (V2 and KServe's V1), and shows it in /metrics", async () => {
      await kiln.deployments.create("lin-online", { model: "lin", replicas: 2 });
      const table = await kiln.deployments.predict("lin-online", [{ a: 1, b: 2 }, { a: 0, b: 0 }]);
      expect([...table.getChild("prediction")!].map(round)).toEqual([0, 1]);

      const infer = await fetch(`${stack.url}/v2/models/lin-online/infer`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${stack.token}` },
        body: JSON.stringify({ inputs: [{ name: "X", shape: [2, 2], datatype: "FP64", data: [1, 2, 0, 0] }] }),
      });
      expect(infer.status).toBe(200);
      const answer = (await infer.json()) as { outputs: { name: string; data: number[] }[] };
      expect(answer.outputs[0]!.data.map(round)).toEqual([0, 1]);
      const v1 = await fetch(`${stack.url}/v1/models/lin-online:predict`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${stack.token}` },
        body: JSON.stringify({ instances: [[1, 2], [0, 0]] }),
      });
      expect(((await v1.json()) as { predictions: number[] }).predictions.map(round)).toEqual([0, 1]);

      const metrics = await (await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${stack.token}` } })).text();
      expect(metrics).toMatch(/kiln_deployment_replicas\{deployment="projects\/default\/deployments\/lin-online"\} 2/);
    }, 30_000);

    it("tracks an experiment with an artifact larger than one message, read back by plain HTTP", async () => {
      const weights = randomBytes(9 * 1024 * 1024);
      const exp = kiln.experiment("deployed");
      await exp.run(async (run) => {
        run.logMetric("accuracy", 0.93);
        await run.logArtifact(weights, "weights.bin");
      });
      expect((await exp.runs()).map((r) => r.creator)).toEqual(["operator"]);
      const rows = await exp.data({ event: "metric" });
      expect(rows[0]).toMatchObject({ key: "accuracy", value: 0.93 });
      expect(Buffer.from((await exp.artifact("weights.bin")) as Uint8Array).equals(weights)).toBe(true);
      const [file] = await exp.data({ event: "artifact" });
      const first = (file!.value as { chunks: { sha256: string }[] }).chunks[0]!.sha256;
      const artifactUrl = `${stack.url}${TRACKING_ARTIFACT_PATH_PREFIX}${first}`;
      expect((await fetch(artifactUrl)).status).toBe(401);
      const plain = await fetch(artifactUrl, { headers: { authorization: `Bearer ${stack.token}` } });
      expect(plain.status).toBe(200);
      expect(createHash("sha256").update(Buffer.from(await plain.arrayBuffer())).digest("hex")).toBe(first);

      // MLflow's clients reach the same experiments by MLflow's REST API, in the default project and under /projects/{p}.
      const mlflow = (path: string) => fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${stack.token}` } });
      const run = (await (await mlflow("/api/2.0/mlflow/runs/get?run_id=deployed-r1")).json()) as { run: { data: { metrics: { key: string; value: number }[] } } };
      expect(run.run.data.metrics).toMatchObject([{ key: "accuracy", value: 0.93 }]);
      const viaArtifacts = await mlflow("/api/2.0/mlflow-artifacts/artifacts/deployed/deployed-r1/artifacts/weights.bin");
      expect(Buffer.from(await viaArtifacts.arrayBuffer()).equals(weights)).toBe(true);
      expect((await mlflow("/projects/default/api/2.0/mlflow/experiments/get?experiment_id=deployed")).status).toBe(200);

      // MLflow's model registry: the tracking service stores the run's model in the registry service, for the caller.
      const send = (method: string, path: string, body: unknown) =>
        fetch(`${stack.url}${path}`, { method, headers: { "content-type": "application/json", authorization: `Bearer ${stack.token}` }, body: typeof body === "string" ? body : JSON.stringify(body) });
      expect((await send("PUT", "/api/2.0/mlflow-artifacts/artifacts/deployed/deployed-r1/artifacts/model/MLmodel", "flavors:\n  python_function: {}\n")).status).toBe(200);
      expect((await send("POST", "/api/2.0/mlflow/registered-models/create", { name: "deployed-mlflow" })).status).toBe(200);
      const registered = await send("POST", "/api/2.0/mlflow/model-versions/create", { name: "deployed-mlflow", source: "runs:/deployed-r1/model" });
      expect(((await registered.json()) as { model_version: { version: string; user_id: string } }).model_version).toMatchObject({ version: "1", user_id: "operator" });
      expect(await kiln.models.get("deployed-mlflow:1")).toMatchObject({ format: "mlflow", author: "operator", fileName: "mlflow-model.tar" });

      // MLflow 3's tracing (/api/3.0/…) and OpenTelemetry's exporters (/v1/traces) reach the tracking service too.
      const traceInfo = { trace_id: "tr-deployed", trace_location: { type: "MLFLOW_EXPERIMENT", mlflow_experiment: { experiment_id: "deployed" } }, request_time: "2026-12-06T08:00:00Z", execution_duration: "0.1s", state: "OK" };
      expect((await send("POST", "/api/3.0/mlflow/traces", { trace: { trace_info: traceInfo } })).status).toBe(200);
      expect((await mlflow("/projects/default/api/3.0/mlflow/traces/tr-deployed")).status).toBe(200);
      const span = { traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", name: "answer", startTimeUnixNano: "1796545683000000000", endTimeUnixNano: "1796545683100000000" };
      const otlp = await fetch(`${stack.url}/v1/traces`, { method: "POST", headers: { "content-type": "application/json", "x-mlflow-experiment-id": "deployed", authorization: `Bearer ${stack.token}` }, body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [span] }] }] }) });
      expect(otlp.status).toBe(200);
      expect((await kiln.experiment("deployed").trace("tr-0af7651916cd43dd8448eb211c80319c")).spans.map((s) => s.name)).toEqual(["answer"]);
    }, 30_000);

    it("passes a browser's Connect calls (HTTP/1.1) and errors with their codes, and answers unknown paths itself", async () => {
      const call = (path: string, body: unknown, token = stack.token) =>
        fetch(`${stack.url}${path}`, { method: "POST", headers: { "content-type": "application/json", ...(token && { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) });
      const anonymous = await call("/kiln.store.v1.StoreService/ListDatasets", { parent: "projects/default" }, "");
      expect([anonymous.status, ((await anonymous.json()) as { code: string }).code]).toEqual([401, "unauthenticated"]);
      const list = await call("/kiln.store.v1.StoreService/ListDatasets", { parent: "projects/default" });
      expect(list.status).toBe(200);
      expect(((await list.json()) as { datasets: { name: string }[] }).datasets.map((d) => d.name).sort()).toEqual(["projects/default/datasets/big", "projects/default/datasets/train"]);
      const missing = await call("/kiln.registry.v1.RegistryService/GetModel", { name: "projects/default/models/nope" });
      expect(missing.status).toBe(404);
      expect(await missing.json()).toMatchObject({ code: "not_found" });
      // The same over gRPC (a trailers-only answer through the proxy), and a refusal of no token there.
      await expect(kiln.models.get("nope")).rejects.toMatchObject({ code: 5 });
      expect(await kiln.whoami()).toMatchObject({ tokensChecked: true, subject: "operator", role: "admin", projects: ["*"], issuer: "kiln" });
      const anonymousSdk = await Kiln.connect({ url: stack.url, services: {}, token: "" });
      await expect(anonymousSdk.models.list()).rejects.toMatchObject({ code: 16, reason: "TOKEN_REQUIRED" });
      anonymousSdk.close();

      expect(await (await fetch(`${stack.url}/healthz`)).text()).toBe("ok");
      // The web console's page and script, from the scheduler, on the proxy's one origin its calls go to.
      const consolePage = await fetch(`${stack.url}/ui/`);
      expect([consolePage.status, await consolePage.text()]).toEqual([200, expect.stringContaining('src="app.js"')]);
      expect((await fetch(`${stack.url}/ui/app.js`)).headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      const unknown = await fetch(`${stack.url}/kiln.nothing.v1.Service/Call`, { method: "POST" });
      expect(unknown.status).toBe(404);
      expect(await unknown.text()).toMatch(/no Kiln service serves/);
    }, 30_000);

    it("is what the CLI talks to with KILN_URL and KILN_TOKEN alone", async () => {
      const cli = join(REPO, "libs/cli/bin/kiln.js");
      const env = { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", KILN_URL: stack.url, KILN_TOKEN: stack.token };
      const { stdout } = await promisify(execFile)(process.execPath, [cli, "deployments"], { env });
      expect(stdout).toMatch(/lin-online\s.*ready/i);
    }, 30_000);
  });
}
