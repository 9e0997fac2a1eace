import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { linearRegressorOnnx } from "@kiln/onnx";
import { Kiln } from "@kiln/sdk";
import { Graph, LogisticRegression, PCA, Pipeline, StandardScaler, concat, input } from "@kiln/sdk/ml";
import { embeddedServer } from "./embedded-server.js";
import { cli } from "./helpers.js";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("kiln models:* against a real server", () => {
  const server = embeddedServer("registry-cli");
  const { kiln, kilnFails } = cli(() => server.url);
  const v1 = linearRegressorOnnx([0.5, -1, 2], 0.25);
  const v2 = linearRegressorOnnx([1, 1, 1], 0);

  beforeAll(async () => {
    await writeFile(join(server.dir, "churn.onnx"), v1);
    await writeFile(join(server.dir, "churn2.onnx"), v2);
    await writeFile(join(server.dir, "README.md"), "# churn\n");
    await writeFile(join(server.dir, "roc.csv"), "fpr,tpr\n0,0\n1,1\n");
  });

  it("pushes with tags, metadata and attachments, then lists, logs and shows", async () => {
    const pushed = await kiln(
      "models:push", "churn", join(server.dir, "churn.onnx"),
      "--comment", "first fit",
      "--tag", "prod", "staging",
      "--meta", "accuracy=0.91", "owner=ana", 'params={"lr":0.1}',
      "--attach", join(server.dir, "README.md"), join(server.dir, "roc.csv"),
    );
    expect(pushed).toMatch(/^churn: version 1, onnx \(runnable\), .*tags prod, staging/);
    expect(await kiln("models:push", "churn", join(server.dir, "churn2.onnx"), "--comment", "second fit")).toMatch(/version 2/);
    await kiln("models:push", "other", join(server.dir, "churn.onnx"), "--comment", "elsewhere");

    expect(await kiln("models")).toMatch(/^NAME\s+LATEST\s+TAGS[\s\S]*^churn\s+2\s+prod=1, staging=1/m);
    const log = await kiln("models:log", "churn");
    expect(log.split("\n")[0]).toMatch(/^VERSION\s+TAGS\s+FORMAT\s+SIZE\s+AUTHOR\s+CREATED\s+COMMENT$/);
    expect(log).toMatch(/^2\s+onnx[\s\S]*second fit[\s\S]*^1\s+prod, staging\s+onnx[\s\S]*first fit/m);
    const all = JSON.parse(await kiln("--json", "models:log")) as { model: string; version: number }[];
    expect(all.map((v) => `${v.model}:${v.version}`)).toEqual(expect.arrayContaining(["churn:2", "churn:1", "other:1"]));
    expect(await kiln("models:log")).toMatch(/^MODEL\s+VERSION/);

    const shown = JSON.parse(await kiln("models:show", "churn:prod", "--json")) as Record<string, unknown>;
    expect(shown).toMatchObject({
      version: 1,
      comment: "first fit",
      metadata: { accuracy: 0.91, owner: "ana", params: { lr: 0.1 } },
      signature: { inputs: [{ name: "X", elementType: "float32", shape: ["N", 3] }] },
      attachments: [expect.objectContaining({ name: "README.md" }), expect.objectContaining({ name: "roc.csv" })],
    });
    const human = await kiln("models:show", "churn:prod");
    expect(human).toMatch(/version:\s+1/);
    expect(human).toMatch(/accuracy: 0\.91/);
    expect(human).toMatch(/input\s+X\s+\S*float32/);
    expect(human).toMatch(/README\.md\s+8 B/);
  });

  it("downloads the model file and its attachments with -o", async () => {
    const out = join(server.dir, "out");
    const printed = await kiln("models:download", "churn:prod", "-o", out);
    expect(printed.trim().split("\n")).toEqual([join(out, "churn.onnx"), join(out, "attachments", "README.md"), join(out, "attachments", "roc.csv")]);
    expect(sha256(await readFile(join(out, "churn.onnx")))).toBe(sha256(v1));
    expect(await readFile(join(out, "attachments", "README.md"), "utf8")).toBe("# churn\n");
    expect(await readFile(join(out, "attachments", "roc.csv"), "utf8")).toBe("fpr,tpr\n0,0\n1,1\n");
  });

  it("moves and removes tags, and sets metadata", async () => {
    expect(await kiln("models:tag", "churn:2", "prod")).toMatch(/prod → churn:2 \(was version 1\)/);
    expect(JSON.parse(await kiln("--json", "models:show", "churn:prod")).version).toBe(2);
    expect(await kiln("models:untag", "churn", "staging")).toMatch(/removed staging from churn/);
    const missing = await kilnFails("models:show", "churn:staging");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/TAG_NOT_FOUND/);

    await kiln("models:meta", "churn:2", "accuracy=0.93", "note=retrained");
    await kiln("models:meta", "churn:2", "auc=0.8");
    expect(JSON.parse(await kiln("--json", "models:show", "churn:2")).metadata).toEqual({ accuracy: 0.93, note: "retrained", auc: 0.8 });
    await kiln("models:meta", "churn:2", "only=true", "--replace");
    expect(JSON.parse(await kiln("--json", "models:show", "churn:2")).metadata).toEqual({ only: true });
  });

  it("creates a model with a description and labels", async () => {
    expect(await kiln("models:create", "empty", "--description", "nothing yet", "--label", "team=risk")).toMatch(/created empty/);
    const list = JSON.parse(await kiln("--json", "models")) as { id: string; description: string; labels: Record<string, string> }[];
    expect(list.find((m) => m.id === "empty")).toMatchObject({ description: "nothing yet", labels: { team: "risk" } });
  });

  it("drop asks for --yes without a terminal, then drops a version (NAME:VERSION) or the whole model", async () => {
    await kiln("models:push", "other", join(server.dir, "churn2.onnx"), "--tag", "prod");
    expect((await kilnFails("models:drop", "other:2")).stderr).toMatch(/--yes/);
    expect(await kiln("models:drop", "other:2", "--yes")).toMatch(/dropped other:2/);
    expect((await kilnFails("models:show", "other:prod")).stderr).toMatch(/TAG_NOT_FOUND/);
    expect((await kilnFails("models:drop", "other:prod", "--yes")).stderr).toMatch(/VERSION_NUMBER_REQUIRED/);
    const refused = await kilnFails("models:drop", "other");
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/--yes/);
    expect(await kiln("models")).toMatch(/^other\s/m);
    expect(await kiln("models:drop", "other", "--yes")).toMatch(/dropped other/);
    expect(await kiln("models")).not.toMatch(/^other\s/m);
    const gone = await kilnFails("models:show", "other");
    expect(gone.stderr).toMatch(/MODEL_NOT_FOUND/);
  });

  it("draws a version's pipeline: a Graph, a Pipeline, an untrained estimator; refuses a plain model file", async () => {
    const sdk = await Kiln.connect(server.url);
    try {
      const x = input();
      const data = [[1, 2, 0], [2, 1, 1], [3, 3, 0], [0, 1, 1]];
      await sdk.models.put("drawn-graph", new Graph(x, concat(x.cols(0, 2).pipe(new StandardScaler(), "scale"), x.col(2)).pipe(new LogisticRegression(), "clf")).fit(data, [0, 1, 0, 1]));
      await sdk.models.put("drawn-pipe", new Pipeline([new StandardScaler(), new PCA({ nComponents: 2 })]).fit(data));
    } finally {
      sdk.close();
    }
    expect(await kiln("models:graph", "drawn-graph")).toBe(
      ["flowchart LR", '  n0["X [3]"]', '  n1["columns 0,1 [2]"]', '  n2["scale: StandardScaler [2]"]', '  n3["columns 2 [1]"]', '  n4["concat [3]"]', '  n5["clf: LogisticRegression"]', "  n0 --> n1", "  n1 --> n2", "  n0 --> n3", "  n2 --> n4", "  n3 --> n4", "  n4 --> n5", ""].join("\n"),
    );
    expect(await kiln("models:graph", "drawn-pipe", "--dot")).toMatch(/n0 \[label="X \[3\]"\];\n {2}n1 \[label="standardscaler: StandardScaler \[3\]"\];\n {2}n2 \[label="pca: PCA"\];/);
    await kiln("models:create", "drawn-kind", "--estimator", "ridge");
    expect(await kiln("models:graph", "drawn-kind")).toMatch(/n0\["X"\]\n {2}n1\["Ridge"\]\n {2}n0 --> n1/);
    const plain = await kilnFails("models:graph", "churn:1");
    expect(plain.stderr).toMatch(/churn:1 has no kiln-ml.json \(a model file uploaded as it is\): there is no pipeline to draw/);
  });

  it("creates an untrained model from a kiln.ml document in a file (a Graph written anywhere)", async () => {
    const x = input(["a", "b"]);
    const graph = new Graph(x, concat(x, x.col("a").mul(x.col("b"))).pipe(new StandardScaler(), "scale").pipe(new LogisticRegression(), "clf"));
    await writeFile(join(server.dir, "graph.json"), JSON.stringify(graph.toJSON()));
    expect(await kiln("models:create", "from-file", "--estimator", join(server.dir, "graph.json"))).toMatch(/created from-file, version 1: Graph \(untrained\)/);
    expect(await kiln("models:graph", "from-file")).toContain('n0["X: a, b"]');
    await writeFile(join(server.dir, "bad-graph.json"), JSON.stringify({ ...graph.toJSON(), state: { nodes: [{ op: "input" }, { op: "unary", fn: "eval", x: 0 }] } }));
    const bad = await kilnFails("models:create", "bad-file", "--estimator", join(server.dir, "bad-graph.json"));
    expect(bad.stderr).toMatch(/Graph node 1: unknown unary "eval"/);
    const withParam = await kilnFails("models:create", "bad-file", "--estimator", join(server.dir, "graph.json"), "--param", "clf__C=2");
    expect(withParam.stderr).toMatch(/--param goes with an estimator named by kind/);
    expect(await kiln("models")).not.toMatch(/^bad-file\s/m);
  });

  it("a bad ref is refused before any call", async () => {
    const bad = await kilnFails("models:show", "churn:1:2");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/invalid model ref.*INVALID_NAME/);
  });
});
