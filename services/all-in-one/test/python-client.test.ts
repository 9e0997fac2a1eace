import { execFile, execFileSync } from "node:child_process";
import { mkdir, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { EVERY_PROJECT, mintToken } from "@kiln/core";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { embeddedServer } from "./embedded-server.js";
import { unique } from "./helpers.js";
import { linearRegressorOnnx } from "@kiln/onnx";

const run = promisify(execFile);
const PROTO_DIR = join(import.meta.dirname, "../../../proto");
const CLIENT = join(import.meta.dirname, "python/runtime_client.py");
const OIP_CLIENT = join(import.meta.dirname, "python/oip_client.py");
const DRIFT_CLIENT = join(import.meta.dirname, "python/drift_client.py");
const EXPLAIN_CLIENT = join(import.meta.dirname, "python/explain_client.py");
/** Debian's python3 (python3-grpcio, python3-protobuf) and protoc (protobuf-compiler); not the pyenv python first on PATH. */
const PYTHON = "/usr/bin/python3";

function hasPythonGrpc(): boolean {
  try {
    execFileSync(PYTHON, ["-c", "import grpc, google.protobuf, numpy"], { stdio: "ignore" });
    execFileSync("protoc", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

// CI installs them (.ci/run); elsewhere the test says what is missing rather than fail.
const available = hasPythonGrpc();
if (!available && process.env.CI === "true") throw new Error("CI needs python3-grpcio, python3-numpy and protobuf-compiler for the Python client tests");

describe.skipIf(!available)("a Python client (grpcio and protoc-generated messages, no SDK, no Arrow)", () => {
  const server = embeddedServer("python");
  let generated: string;

  beforeAll(async () => {
    generated = join(server.dir, "gen");
    await mkdir(generated);
    const protos = (await readdir(PROTO_DIR, { recursive: true })).filter((f) => f.endsWith(".proto")).map((f) => relative(PROTO_DIR, join(PROTO_DIR, f)));
    await run("protoc", ["-I", PROTO_DIR, "-I", "/usr/include", `--python_out=${generated}`, ...protos]);
  });

  it("fits on rows carried in the submit, streams predictions back, scores, and gets a refused submit's code and words", async () => {
    const model = unique("pyclf");
    await server.kiln.models.create(model, { estimator: "logistic_regression" });
    const target = new URL(server.url).host;
    const { stdout } = await run(PYTHON, [CLIENT, target, model], { env: { ...process.env, PYTHONPATH: generated } });
    const out = JSON.parse(stdout) as {
      fit: { state: string; model_version: string; x_temporary: boolean; x_columns: string[] };
      predict: { name: string; state: string; sequences: number[]; columns: string[]; rows: Record<string, number | string>[] };
      score: { state: string; metrics: Record<string, number> };
      refused: { code: string; message: string };
    };
    expect(out.fit).toEqual({ state: "JOB_STATE_SUCCEEDED", model_version: `projects/default/models/${model}/versions/2`, x_temporary: true, x_columns: ["x0", "x1"] });

    // The JSON rows Python read are the predictions the SDK reads for the same job as Arrow (float32, written shortest).
    expect(out.predict.state).toBe("JOB_STATE_SUCCEEDED");
    expect(out.predict.sequences).toEqual(out.predict.sequences.map((_, i) => i));
    const fromSdk = ((await server.kiln.runtime.job(out.predict.name).get()) as import("apache-arrow").Table).toArray().map((r) => ({ ...r.toJSON() }) as Record<string, number>);
    expect(out.predict.rows).toHaveLength(3);
    // The kept column first, then the probabilities; a Struct's keys come in any order: the columns say it.
    expect(out.predict.columns).toEqual(["customer", "probability_0", "probability_1"]);
    expect(out.predict.columns).toEqual(Object.keys(fromSdk[0]!));
    expect(out.predict.rows.map((row) => Object.keys(row).sort())).toEqual(fromSdk.map((row) => Object.keys(row).sort()));
    expect(out.predict.rows.map((row) => row.customer)).toEqual(["ana", "bo", "cy"]);
    out.predict.rows.forEach((row, i) => ["probability_0", "probability_1"].forEach((column) => expect(Math.fround(row[column] as number)).toBe(fromSdk[i]![column])));
    expect(out.predict.rows[0]!.probability_0).toBeGreaterThan(0.5);
    expect(out.predict.rows[1]!.probability_1).toBeGreaterThan(0.5);

    expect(out.score).toEqual({ state: "JOB_STATE_SUCCEEDED", metrics: { accuracy: 1 } });
    expect(out.refused.code).toBe("INVALID_ARGUMENT");
    expect(out.refused.message).toContain("job.x.data takes an array of row objects");
    // The temporary datasets made from the requests' data are gone once the jobs are.
    await expect.poll(async () => (await server.kiln.datasets.list()).filter((d) => d.labels["kiln.temporary"] === "true"), { timeout: 5000 }).toEqual([]);
  });

  it("profiles a dataset and compares new data with it (data drift), as a Python monitoring script would", async () => {
    const baseline = unique("pybase");
    const later = unique("pylater");
    await server.kiln.datasets.put(baseline, Array.from({ length: 400 }, (_, i) => ({ age: 20 + (i % 40), city: i % 2 ? "berlin" : "paris" })));
    await server.kiln.datasets.put(later, Array.from({ length: 400 }, (_, i) => ({ age: 20 + (i % 40), city: ["berlin", "paris", "rome"][i % 3]! })));
    // A version trained on the baseline, as its metadata says (what a fit records).
    const model = unique("pydrift");
    const trainedOn = (await server.kiln.datasets.info(baseline)).latest!.version;
    await server.kiln.models.put(model, linearRegressorOnnx([1, 1], 0), { metadata: { features: ["age", "city"], training_data: { dataset: `projects/default/datasets/${baseline}`, version: trainedOn, filter: "" } } });
    const target = new URL(server.url).host;
    const { stdout } = await run(PYTHON, [DRIFT_CLIENT, target, baseline, later, model], { env: { ...process.env, PYTHONPATH: generated } });
    const out = JSON.parse(stdout) as {
      profile: unknown;
      drifted: boolean;
      columns: Record<string, { drifted: boolean; test: string; psi: number; p_value: number; new_values: string[] }>;
      refused: { code: string; message: string };
      job: unknown;
    };
    expect(out.job).toEqual({
      state: "JOB_STATE_SUCCEEDED",
      baseline: `projects/default/datasets/${baseline}`,
      target_rows: 400,
      drifted: true,
      columns: { age: false, city: true },
      metrics: expect.objectContaining({ "drift.drifted": 1, "drift.drifted_columns": 1, "drift.psi.age": 0 }),
    });
    expect(out.profile).toEqual({ rows: 400, column: "age", kind: "COLUMN_KIND_NUMERIC", mean: expect.closeTo(39.5, 9), median: 39.5 });
    expect(out.drifted).toBe(true);
    expect(out.columns.age).toMatchObject({ drifted: false, test: "ks", psi: 0, p_value: 1 });
    expect(out.columns.city).toMatchObject({ drifted: true, test: "chi2", new_values: ["rome"] });
    expect(out.refused.code).toBe("INVALID_ARGUMENT");
    expect(out.refused.message).toContain("psi_threshold must be a number ≥ 0");
  });

  it("asks why a model answers so: an EXPLAIN job on JSON rows, and a deployment's rows explained online", async () => {
    const model = unique("pywhy");
    await server.kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const background = unique("pyusual");
    await server.kiln.datasets.put(background, [{ x0: 0, x1: 0 }, { x0: 2, x1: 2 }]);
    const id = unique("pywhy");
    await server.kiln.deployments.create(id, { model });
    const target = new URL(server.url).host;
    const { stdout } = await run(PYTHON, [EXPLAIN_CLIENT, target, model, id, background], { env: { ...process.env, PYTHONPATH: generated } });
    const out = JSON.parse(stdout) as { job: unknown; online: unknown };
    // Against a background of means x0 = 1, x1 = 1: 2·(x0 − 1) and −(x1 − 1), from 0.5 + 2 − 1 = 1.5.
    expect(out.job).toEqual({
      state: "JOB_STATE_SUCCEEDED",
      method: "exact",
      background_rows: 2,
      outputs: [{ output: "prediction", base_value: 1.5, features: ["x0", "x1"] }],
      metrics: { "importance.x0": 2, "importance.x1": 1 },
    });
    expect(out.online).toEqual({
      columns: ["prediction", "base_value", "shap_x0", "shap_x1"],
      rows: [
        { prediction: 0.5, base_value: 1.5, shap_x0: 0, shap_x1: -1 },
        { prediction: 6.5, base_value: 1.5, shap_x0: 4, shap_x1: 1 },
      ],
    });
  });

  it("calls a deployment as an Open Inference Protocol client does (the protocol's messages and service path, NumPy raw contents)", async () => {
    const model = unique("pylinear");
    await server.kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const id = unique("pyoip");
    await server.kiln.deployments.create(id, { model });
    const target = new URL(server.url).host;
    const { stdout } = await run(PYTHON, [OIP_CLIENT, target, id], { env: { ...process.env, PYTHONPATH: generated } });
    expect(JSON.parse(stdout)).toEqual(oipAnswers(id));
  });

  it("calls an inference graph as the same client calls a model, by its name inferenceGraphs/{id}", async () => {
    const model = unique("pylinear");
    await server.kiln.models.put(model, linearRegressorOnnx([2, -1], 0.5));
    const id = unique("pyoip");
    await server.kiln.deployments.create(id, { model });
    const graph = unique("pygraph");
    await server.kiln.inferenceGraphs.create(graph, { nodes: { root: { routerType: "sequence", steps: [{ deployment: id }] } } });
    const target = new URL(server.url).host;
    const { stdout } = await run(PYTHON, [OIP_CLIENT, target, `inferenceGraphs/${graph}`], { env: { ...process.env, PYTHONPATH: generated } });
    const answers = oipAnswers(`inferenceGraphs/${graph}`);
    expect(JSON.parse(stdout)).toEqual({
      ...answers,
      metadata: { ...answers.metadata, versions: [], platform: "kiln_inference_graph" },
      infer: { ...answers.infer, model_version: "" },
    });
  });

  it("calls a deployment of a server that checks tokens with one in the call's metadata, as Triton's clients send headers", async () => {
    const secured = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: join(server.dir, "secured"), KILN_LOG_LEVEL: "silent", KILN_AUTH_SECRETS: SECRET }, false);
    try {
      const admin = await Kiln.connect({ url: secured.server.url, token: mintToken(SECRET, { subject: "admin", role: "admin", projects: [EVERY_PROJECT] }) });
      const model = unique("pylinear");
      await admin.models.put(model, linearRegressorOnnx([2, -1], 0.5));
      const id = unique("pyoip");
      await admin.deployments.create(id, { model });
      admin.close();
      const target = new URL(secured.server.url).host;
      const python = (token: string) => run(PYTHON, [OIP_CLIENT, target, id], { env: { ...process.env, PYTHONPATH: generated, KILN_TOKEN: token } });
      const { stdout } = await python(mintToken(SECRET, { subject: "py-app", role: "read", projects: ["default"] }));
      expect(JSON.parse(stdout)).toEqual(oipAnswers(id));
      const refused = (await python("").catch((e: unknown) => e)) as { code: number; stderr: string };
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/StatusCode.UNAUTHENTICATED[\s\S]*this server needs a token/);
    } finally {
      await secured.stop();
    }
  });
});

const SECRET = "python-client-secret-0123456789abcdef";

/** What oip_client.py prints for a deployment of linearRegressorOnnx([2, -1], 0.5). */
function oipAnswers(id: string) {
  return {
    live: true,
    ready: true,
    metadata: { name: id, versions: ["1"], platform: "onnxruntime_onnx", inputs: [{ name: "X", datatype: "FP32", shape: [-1, 2] }] },
    infer: { id: "py-1", model_version: "1", name: "prediction", datatype: "FP32", shape: [3], values: [0.5, 2.5, 6.5] },
    refused: { code: "INVALID_ARGUMENT", message: expect.stringContaining("has 3 elements for shape [2, 2]") },
  };
}
