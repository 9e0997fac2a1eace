import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { LinearRegression } from "@kiln/ml";
import { OnnxGraphBuilder, linearRegressorOnnx } from "@kiln/onnx";
import { codeOf, collect, startHarness, uniqueName, uploadStream, type Harness } from "./harness.js";

const P = "projects/default/models";

describe("bad input to the registry: clear errors, nothing changed", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ maxMetadataBytes: 1024, maxModelBytes: 64 * 1024 });
  });
  afterAll(async () => {
    await h.close();
  });

  const versionCount = async () => (await h.deps.metadata.collection("registry_versions").list()).length;

  it("bytes that claim to be ONNX and are not → InvalidArgument INVALID_ONNX; no version, no repository", async () => {
    const model = uniqueName();
    const before = await versionCount();
    for (const bytes of [new TextEncoder().encode("definitely not a model\n"), new Uint8Array(0), linearRegressorOnnx([1, 2], 0).subarray(0, 40)]) {
      const err = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes)));
      expect(err).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ONNX" });
    }
    expect(await versionCount()).toBe(before);
    expect((await codeOf(h.client.getModel({ name: `${P}/${model}` }))).reason).toBe("MODEL_NOT_FOUND");
  });

  it("a kiln-ml file the runtime could not fit → InvalidArgument with @kiln/ml's reason; no version, no repository", async () => {
    const before = await versionCount();
    const doc = (kind: unknown, params: unknown = {}, state: unknown = null) => new TextEncoder().encode(JSON.stringify({ format: "kiln.ml/v1", kind, params, state }));
    const cases: [Uint8Array, string, RegExp][] = [
      [new TextEncoder().encode("{ not json"), "INVALID_TRAINABLE", /JSON/],
      [new TextEncoder().encode(JSON.stringify({ format: "sklearn", kind: "LinearRegression" })), "UNKNOWN_FORMAT", /not a kiln.ml\/v1 model/],
      [doc("logistic_regresion"), "UNKNOWN_ESTIMATOR", /unknown estimator "logistic_regresion"; known: .*LogisticRegression/],
      [doc("logistic_regression", { Cx: 1 }), "UNKNOWN_PARAMETER", /LogisticRegression has no parameter "Cx"/],
      [doc(42), "UNKNOWN_FORMAT", /names its estimator/],
      [doc("LinearRegression", {}, { coef: "nonsense" }), "", /./],
    ];
    for (const [bytes, reason, says] of cases) {
      const model = uniqueName();
      const err = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, format: "kiln-ml" }, bytes)));
      expect(err.code, String(reason)).toBe(Code.InvalidArgument);
      if (reason) expect(err.reason).toBe(reason);
      expect(err.message).toMatch(says);
      expect((await codeOf(h.client.getModel({ name: `${P}/${model}` }))).reason).toBe("MODEL_NOT_FOUND");
    }
    expect(await versionCount()).toBe(before);
    // What the runtime fits is taken: params in snake_case (as for jobs), and a fitted estimator's state.
    const untrained = await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${uniqueName()}`, format: "kiln-ml" }, doc("logistic_regression", { fit_intercept: false, C: 0.5 })));
    expect(untrained.version!.runnable).toBe(false);
    const fitted = new LinearRegression().fit([[0], [1], [2]], [1, 3, 5]);
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${uniqueName()}`, format: "kiln-ml" }, new TextEncoder().encode(JSON.stringify(fitted.toJSON()))));
  });

  it("an ONNX file onnxruntime cannot load → InvalidArgument naming its reason", async () => {
    const g = new OnnxGraphBuilder({ opset: 17 });
    g.input("X", "float32", ["N", 2]);
    g.node("NoSuchOp", ["X"], ["Y"]);
    g.output("Y", "float32", ["N", 2]);
    const err = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${uniqueName()}` }, g.toBytes())));
    expect(err).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ONNX" });
    expect(err.message).toMatch(/NoSuchOp/);
  });

  it("an upload cut off half way → no version; its chunks become garbage", async () => {
    const model = uniqueName();
    await h.client.createModel({ parent: "projects/default", modelId: model });
    const cut = (async function* () {
      yield { message: { case: "header" as const, value: { parent: `${P}/${model}`, format: "joblib" } } };
      yield { message: { case: "chunk" as const, value: new Uint8Array(1000).fill(3) } };
      throw new Error("network gone");
    })();
    await expect(h.client.uploadModelVersion(cut)).rejects.toThrow();
    expect((await codeOf(h.client.getModelVersion({ name: `${P}/${model}/versions/latest` }))).reason).toBe("VERSION_NOT_FOUND");
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(0n);
  });

  it("an upload whose header asks for a commit and ends without it → Aborted WRITE_NOT_COMMITTED; no version, no attachment", async () => {
    const model = uniqueName();
    await h.client.createModel({ parent: "projects/default", modelId: model });
    const piece = { message: { case: "chunk" as const, value: new Uint8Array(1000).fill(3) } };
    const version = (async function* () {
      yield { message: { case: "header" as const, value: { parent: `${P}/${model}`, format: "joblib", endsWithCommit: true } } };
      yield piece;
    })();
    expect(await codeOf(h.client.uploadModelVersion(version))).toMatchObject({ code: Code.Aborted, reason: "WRITE_NOT_COMMITTED" });
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(0n);
    const committed = (async function* () {
      yield { message: { case: "header" as const, value: { parent: `${P}/${model}`, format: "joblib", endsWithCommit: true } } };
      yield piece;
      yield { message: { case: "commit" as const, value: { pieces: 1n } } };
    })();
    expect((await h.client.uploadModelVersion(committed)).version!.version).toBe(1n);
    const attachment = (async function* () {
      yield { message: { case: "header" as const, value: { version: `${P}/${model}/versions/1`, name: "notes.txt", endsWithCommit: true } } };
      yield piece;
    })();
    expect(await codeOf(h.client.uploadAttachment(attachment))).toMatchObject({ code: Code.Aborted, reason: "WRITE_NOT_COMMITTED" });
    expect((await h.client.getModelVersion({ name: `${P}/${model}/versions/1` })).version!.attachments).toEqual([]);
  });

  it("missing model, version or tag → NotFound with a reason; tagging a missing version too", async () => {
    const model = uniqueName();
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([1], 0)));
    expect(await codeOf(h.client.getModel({ name: `${P}/nope_${model}` }))).toMatchObject({ code: Code.NotFound, reason: "MODEL_NOT_FOUND" });
    expect(await codeOf(h.client.getModelVersion({ name: `${P}/${model}/versions/9` }))).toMatchObject({ code: Code.NotFound, reason: "VERSION_NOT_FOUND" });
    expect(await codeOf(h.client.getModelVersion({ name: `${P}/${model}/versions/staging` }))).toMatchObject({ code: Code.NotFound, reason: "TAG_NOT_FOUND" });
    expect(await codeOf(h.client.setTag({ name: `${P}/${model}/versions/9`, tag: "prod" }))).toMatchObject({ code: Code.NotFound, reason: "VERSION_NOT_FOUND" });
    expect(await codeOf(h.client.deleteTag({ model: `${P}/${model}`, tag: "prod" }))).toMatchObject({ code: Code.NotFound, reason: "TAG_NOT_FOUND" });
    expect(await codeOf(collect(h.client.downloadModelVersion({ name: `${P}/${model}/versions/2` })))).toMatchObject({ reason: "VERSION_NOT_FOUND" });
    expect(await codeOf(h.client.deleteModel({ name: `${P}/nope_${model}` }))).toMatchObject({ reason: "MODEL_NOT_FOUND" });
    const noRepo = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/nope_${model}`, createModel: false }, linearRegressorOnnx([1], 0))));
    expect(noRepo).toMatchObject({ code: Code.NotFound, reason: "MODEL_NOT_FOUND" });
  });

  it("creating an existing repository → AlreadyExists MODEL_EXISTS", async () => {
    const model = uniqueName();
    await h.client.createModel({ parent: "projects/default", modelId: model, description: "first" });
    expect(await codeOf(h.client.createModel({ parent: "projects/default", modelId: model, description: "second" }))).toMatchObject({
      code: Code.AlreadyExists,
      reason: "MODEL_EXISTS",
    });
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.description).toBe("first");
  });

  it("invalid names, tags and formats → InvalidArgument", async () => {
    for (const id of ["", "..", "a/b", "nul\u0000", "x".repeat(300)]) {
      expect(await codeOf(h.client.createModel({ parent: "projects/default", modelId: id }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    }
    const model = uniqueName();
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([1], 0)));
    for (const tag of ["3", "latest"]) {
      expect(await codeOf(h.client.setTag({ name: `${P}/${model}/versions/1`, tag }))).toMatchObject({ reason: "INVALID_TAG" });
    }
    expect(await codeOf(h.client.setTag({ name: `${P}/${model}/versions/1`, tag: "a b" }))).toMatchObject({ reason: "INVALID_NAME" });
    expect(await codeOf(h.client.getModelVersion({ name: `${P}/${model}/versions/0` }))).toMatchObject({ reason: "INVALID_VERSION" });
    expect(await codeOf(h.client.getModelVersion({ name: `${P}/${model}` }))).toMatchObject({ reason: "INVALID_NAME" });
    const badFormat = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, format: "ONNX!" }, linearRegressorOnnx([1], 0))));
    expect(badFormat).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_FORMAT" });
    const badMask = await codeOf(h.client.updateModelVersion({ name: `${P}/${model}/versions/1`, updateMask: { paths: ["sha256"] } }));
    expect(badMask).toMatchObject({ reason: "INVALID_UPDATE_MASK" });
    const noHeader = await codeOf(h.client.uploadModelVersion((async function* () { yield { message: { case: "chunk" as const, value: new Uint8Array(3) } }; })()));
    expect(noHeader).toMatchObject({ reason: "HEADER_REQUIRED" });
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(1n);
  });

  it("metadata over the limit → ResourceExhausted, on upload and on update, nothing changed", async () => {
    const model = uniqueName();
    const big = { notes: "x".repeat(2000) };
    const upload = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, metadata: big }, linearRegressorOnnx([1], 0))));
    expect(upload).toMatchObject({ code: Code.ResourceExhausted, reason: "METADATA_TOO_LARGE" });
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, metadata: { a: 1 } }, linearRegressorOnnx([1], 0)));
    const update = await codeOf(h.client.updateModelVersion({ name: `${P}/${model}/versions/1`, metadata: big, updateMask: { paths: ["metadata"] } }));
    expect(update).toMatchObject({ code: Code.ResourceExhausted, reason: "METADATA_TOO_LARGE" });
    expect((await h.client.getModelVersion({ name: `${P}/${model}/versions/1` })).version!.metadata).toEqual({ a: 1 });
  });

  it("a model file over the limit → ResourceExhausted MODEL_TOO_LARGE, no version", async () => {
    const model = uniqueName();
    const err = await codeOf(h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, format: "pytorch" }, new Uint8Array(100 * 1024))));
    expect(err).toMatchObject({ code: Code.ResourceExhausted, reason: "MODEL_TOO_LARGE" });
    expect((await codeOf(h.client.getModel({ name: `${P}/${model}` }))).reason).toBe("MODEL_NOT_FOUND");
  });
});
