import { createHash } from "node:crypto";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { readdir } from "node:fs/promises";
import { OnnxGraphBuilder, OnnxWorkerPool, binaryClassifierOnnx, linearRegressorOnnx } from "@kiln/onnx";
import { withRecentPuts } from "@kiln/storage";
import { RegistryEventSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { codeOf, collect, startHarness, allEvents, uniqueName, uploadStream, type Harness } from "./harness.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const P = "projects/default/models";

describe("model repositories and versions", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function download(name: string, byReference = false): Promise<Buffer> {
    const parts = await collect(h.client.downloadModelVersion({ name, byReference }));
    expect(parts[0].message.case).toBe("header");
    return Buffer.concat(parts.slice(1).map((p) => (p.message.case === "chunk" ? p.message.value : new Uint8Array())));
  }

  it("uploads an ONNX model and shows its signature, opset and producer; downloads the same bytes, which run", async () => {
    const model = uniqueName();
    const bytes = linearRegressorOnnx([2, -1, 0.5], 3);
    const { version } = await h.client.uploadModelVersion(
      uploadStream({ parent: `${P}/${model}`, comment: "first fit", metadata: { accuracy: 0.89, params: { alpha: 1 } }, fileName: "model.onnx" }, bytes, 100),
    );
    expect(version).toMatchObject({ name: `${P}/${model}/versions/1`, version: 1n, format: "onnx", runnable: true, comment: "first fit", author: "anonymous" });
    expect(version!.size).toBe(BigInt(bytes.length));
    expect(version!.sha256).toBe(sha256(bytes));
    expect(version!.metadata).toEqual({ accuracy: 0.89, params: { alpha: 1 } });
    expect(version!.onnx!.opsets.map((o) => o.domain)).toContain("ai.onnx");
    expect(version!.onnx!.producerName).toBe("kiln");
    const [input] = version!.signature!.inputs;
    expect(input).toMatchObject({ name: "X", kind: "tensor", elementType: "float32", rankKnown: true, type: "tensor(float32)[N,3]" });
    expect(input.shape.map((d) => d.value.value)).toEqual(["N", 3n]);
    expect(version!.signature!.outputs.map((o) => o.name)).toEqual(["variable"]);

    const back = await download(`${P}/${model}/versions/latest`);
    expect(sha256(back)).toBe(sha256(bytes));
    const pool = new OnnxWorkerPool();
    try {
      const out = await pool.run(back, { X: { type: "float32", dims: [2, 3], data: new Float32Array([1, 1, 1, 0, 2, 4]) } });
      expect(Array.from(out.variable.data as Float32Array)).toEqual([4.5, 3]);
    } finally {
      await pool.close();
    }
  });

  it("downloads by reference: chunk paths on the registry's own route", async () => {
    const model = uniqueName();
    const bytes = binaryClassifierOnnx([1, -1], 0, ["no", "yes"]);
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes));
    const parts = await collect(h.client.downloadModelVersion({ name: `${P}/${model}/versions/1`, byReference: true }));
    const refs = parts.flatMap((p) => (p.message.case === "reference" ? [p.message.value] : []));
    expect(refs.length).toBe(1);
    expect(refs[0].path).toBe(`/kiln/registry/v1/chunks/${refs[0].sha256}`);
    expect(Number(refs[0].size)).toBe(bytes.length);
  });

  it("numbers versions 1, 2, 3 and resolves number, tag and latest in every call", async () => {
    const model = uniqueName();
    for (const c of [1, 2, 3]) await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, comment: `v${c}`, tags: c === 2 ? ["prod"] : [] }, linearRegressorOnnx([c], 0)));
    const get = (ref: string) => h.client.getModelVersion({ name: `${P}/${model}/versions/${ref}` }).then((r) => r.version!);
    expect((await get("latest")).version).toBe(3n);
    expect((await get("prod")).comment).toBe("v2");
    expect((await get("prod")).tags).toEqual(["prod"]);
    expect((await get("1")).comment).toBe("v1");
    const { model: m } = await h.client.getModel({ name: `${P}/${model}` });
    expect(m).toMatchObject({ latestVersion: 3n, tags: { prod: 2n } });
    const listed = await h.client.listModelVersions({ parent: `${P}/${model}` });
    expect(listed.versions.map((v) => v.version)).toEqual([3n, 2n, 1n]);
  });

  it("moves a tag with one call and announces it; untags", async () => {
    const model = uniqueName();
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, tags: ["prod"] }, linearRegressorOnnx([1], 0)));
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([2], 0)));
    const moved = await h.client.setTag({ name: `${P}/${model}/versions/2`, tag: "prod" });
    expect(moved.previousVersion).toBe(1n);
    expect(moved.model!.tags).toEqual({ prod: 2n });
    expect((await h.client.getModelVersion({ name: `${P}/${model}/versions/prod` })).version!.version).toBe(2n);
    const events = (await allEvents(h.bus)).filter((e) => e.subject === "kiln.registry.v1.tag.moved");
    const mine = events.map((e) => fromBinary(RegistryEventSchema, e.data)).filter((e) => e.model === `${P}/${model}`);
    expect(mine.map((e) => [e.tag, e.previousVersion, e.tagVersion])).toEqual([
      ["prod", 0n, 1n],
      ["prod", 1n, 2n],
    ]);
    await h.client.deleteTag({ model: `${P}/${model}`, tag: "prod" });
    expect((await codeOf(h.client.getModelVersion({ name: `${P}/${model}/versions/prod` }))).reason).toBe("TAG_NOT_FOUND");
  });

  it("updates metadata (replace, or per key) and comment without a new version", async () => {
    const model = uniqueName();
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, metadata: { a: 1, b: 2 } }, linearRegressorOnnx([1], 0)));
    const name = `${P}/${model}/versions/1`;
    const merged = await h.client.updateModelVersion({ name, metadata: { b: 3, c: "x" }, updateMask: { paths: ["metadata.b", "metadata.c", "metadata.a"] } });
    expect(merged.version!.metadata).toEqual({ b: 3, c: "x" });
    const replaced = await h.client.updateModelVersion({ name, metadata: { accuracy: 0.91 }, comment: "re-scored", updateMask: { paths: ["metadata", "comment"] } });
    expect(replaced.version!.metadata).toEqual({ accuracy: 0.91 });
    expect(replaced.version!.comment).toBe("re-scored");
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(1n);
  });

  it("keeps lineage: source datasets with versions, job, run, parent version", async () => {
    const model = uniqueName();
    const lineage = {
      sourceDatasets: [{ name: "projects/default/datasets/train", version: 4n }],
      trainingJob: "projects/default/jobs/j1",
      run: "projects/default/experiments/e/runs/2",
      parentVersion: `${P}/${model}/versions/1`,
    };
    const { version } = await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, lineage }, linearRegressorOnnx([1], 0)));
    expect(version!.lineage).toMatchObject({ trainingJob: lineage.trainingJob, run: lineage.run, parentVersion: lineage.parentVersion });
    expect(version!.lineage!.sourceDatasets.map((d) => [d.name, d.version])).toEqual([["projects/default/datasets/train", 4n]]);
  });

  it("checks a model of several chunks (inline or by reference) where they are stored, or from one spooled copy when the blob store keeps no files; leaves no scratch files", async () => {
    const k = 1200; // 5.8 MB of weights: two chunks
    const g = new OnnxGraphBuilder({ opset: 17, producer: "chunks-test" });
    g.input("X", "float32", ["N", k]);
    g.initializer("W", Float32Array.from({ length: k * k }, (_, i) => Math.sin(i)), [k, k]);
    g.node("MatMul", ["X", "W"], ["Y"]);
    g.output("Y", "float32", ["N", k]);
    const bytes = g.toBytes();
    // Chunks PUT beforehand and named by reference are read back from withRecentPuts' memory.
    const recent = withRecentPuts(h.deps.blobs);
    const sent: string[] = [];
    const byReference = async function* (parent: string) {
      yield { message: { case: "header" as const, value: { parent, createModel: true, format: "onnx" } } };
      for (let at = 0; at < bytes.length; at += 4 << 20) {
        const { sha256, size } = await recent.put(bytes.subarray(at, at + (4 << 20)));
        sent.push(sha256);
        yield { message: { case: "reference" as const, value: { sha256, size: BigInt(size) } } };
      }
    };
    const remoteLike = { blobs: { ...recent, localPath: undefined } };
    for (const deps of [{}, { blobs: recent }, remoteLike]) {
      const client = h.clientWith(deps);
      const model = uniqueName();
      const { version } = await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes, 1024 * 1024));
      expect(version).toMatchObject({ runnable: true, sha256: sha256(bytes) });
      const referenced = await client.uploadModelVersion(byReference(`${P}/${model}`));
      expect(referenced.version).toMatchObject({ runnable: true, sha256: sha256(bytes), size: BigInt(bytes.length) });
      const putByUs = sent.splice(0);
      const leftInMemory = putByUs.filter((c) => recent.readRecent(c, () => {}));
      expect(leftInMemory.length).toBe("blobs" in deps ? 0 : putByUs.length); // a registry on `recent` read each from memory
      expect(version!.signature!.inputs[0]!.type).toBe(`tensor(float32)[N,${k}]`);
      expect(version!.onnx!.producerName).toBe("chunks-test");
      const bad = await codeOf(client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes.subarray(0, bytes.length - 10), 1024 * 1024)));
      expect(bad).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ONNX" });
      expect(await readdir(h.deps.spoolDir)).toEqual([]);
    }
  });

  it("stores other formats as opaque artifacts, flagged not runnable", async () => {
    const model = uniqueName();
    const pickle = new Uint8Array([0x80, 0x04, 0x95, 1, 2, 3, 0x2e]);
    const { version } = await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, format: "sklearn-pickle", fileName: "clf.pkl" }, pickle));
    expect(version).toMatchObject({ format: "sklearn-pickle", runnable: false, fileName: "clf.pkl", mediaType: "application/octet-stream" });
    expect(version!.signature).toBeUndefined();
    expect(await download(`${P}/${model}/versions/1`)).toEqual(Buffer.from(pickle));
  });

  it("PutModelVersion and PutAttachment take an upload in one message (for browsers): the same version, the same checks", async () => {
    const model = uniqueName();
    const bytes = linearRegressorOnnx([2, -1, 0.5], 3);
    const pieces = [bytes.subarray(0, 100), bytes.subarray(100)].map((value) => ({ piece: { case: "chunk" as const, value } }));
    const { version } = await h.client.putModelVersion({ header: { parent: `${P}/${model}`, createModel: true, fileName: "model.onnx", tags: ["prod"] }, pieces });
    expect(version).toMatchObject({ name: `${P}/${model}/versions/1`, format: "onnx", runnable: true, tags: ["prod"] });
    expect(version!.sha256).toBe(sha256(bytes));
    expect(sha256(await download(`${P}/${model}/versions/prod`))).toBe(sha256(bytes));

    const attached = await h.client.putAttachment({ header: { version: `${P}/${model}/versions/1`, name: "notes.txt", mediaType: "text/plain" }, pieces: [{ piece: { case: "chunk", value: new TextEncoder().encode("fitted in a browser") } }] });
    expect(attached.version!.attachments.map((a) => [a.name, a.size])).toEqual([["notes.txt", 19n]]);

    // Bad input is refused as the stream refuses it, and stores nothing.
    expect(await codeOf(h.client.putModelVersion({ pieces }))).toMatchObject({ code: Code.InvalidArgument, reason: "HEADER_REQUIRED" });
    const notOnnx = [{ piece: { case: "chunk" as const, value: new TextEncoder().encode("not a model") } }];
    expect(await codeOf(h.client.putModelVersion({ header: { parent: `${P}/${model}`, format: "onnx" }, pieces: notOnnx }))).toMatchObject({ code: Code.InvalidArgument });
    expect(await codeOf(h.client.putAttachment({ header: { version: `${P}/${model}/versions/1`, name: "x.txt" }, pieces: [{ piece: { case: undefined } }] }))).toMatchObject({ reason: "CHUNK_EXPECTED" });
    expect((await h.client.listModelVersions({ parent: `${P}/${model}` })).versions).toHaveLength(1);
  });

  it("attachments: any number, named, listed with size and media type, replaced by name, downloaded, deleted", async () => {
    const model = uniqueName();
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([1], 0)));
    const attach = (name: string, text: string, mediaType = "text/plain") =>
      h.client.uploadAttachment(
        (async function* () {
          yield { message: { case: "header" as const, value: { version: `${P}/${model}/versions/latest`, name, mediaType } } };
          yield { message: { case: "chunk" as const, value: new TextEncoder().encode(text) } };
        })(),
      );
    await attach("log.txt", "epoch 1 loss 0.3\n");
    await attach("report.json", '{"auc":0.9}', "application/json");
    const replaced = await attach("log.txt", "epoch 1 loss 0.2\n");
    expect(replaced.version!.attachments.map((a) => [a.name, a.mediaType, a.size])).toEqual([
      ["log.txt", "text/plain", 17n],
      ["report.json", "application/json", 11n],
    ]);
    const parts = await collect(h.client.downloadAttachment({ version: `${P}/${model}/versions/1`, name: "log.txt" }));
    expect(parts[0].message.case).toBe("header");
    expect(Buffer.concat(parts.slice(1).map((p) => p.message.value as Uint8Array)).toString()).toBe("epoch 1 loss 0.2\n");
    const after = await h.client.deleteAttachment({ version: `${P}/${model}/versions/1`, name: "report.json" });
    expect(after.version!.attachments.map((a) => a.name)).toEqual(["log.txt"]);
    expect((await codeOf(collect(h.client.downloadAttachment({ version: `${P}/${model}/versions/1`, name: "report.json" })))).reason).toBe("ATTACHMENT_NOT_FOUND");
  });

  it("lists repositories with a filter, and versions across all models newest first", async () => {
    const a = uniqueName("flt");
    const b = uniqueName("flt");
    await h.client.createModel({ parent: "projects/default", modelId: a, labels: { team: "risk" } });
    await h.client.createModel({ parent: "projects/default", modelId: b, labels: { team: "ops" } });
    const risk = await h.client.listModels({ parent: "projects/default", filter: 'labels.team = "risk"' });
    expect(risk.models.map((m) => m.name)).toContain(`${P}/${a}`);
    expect(risk.models.map((m) => m.name)).not.toContain(`${P}/${b}`);
    let clock = Date.now() + 60_000;
    const later = h.clientAt(() => new Date((clock += 1000)));
    await later.uploadModelVersion(uploadStream({ parent: `${P}/${a}`, createModel: false }, linearRegressorOnnx([1], 0)));
    await later.uploadModelVersion(uploadStream({ parent: `${P}/${b}`, createModel: false }, linearRegressorOnnx([1], 0)));
    const log = await h.client.listModelVersions({ parent: `${P}/-`, pageSize: 2 });
    expect(log.versions.map((v) => v.name)).toEqual([`${P}/${b}/versions/1`, `${P}/${a}/versions/1`]);
    expect(log.nextPageToken).not.toBe("");
  });

  it("delete is real: versions go, the name is free and numbering starts again at 1; unused blobs are collected", async () => {
    const model = uniqueName();
    let clock = Date.now();
    const client = h.clientAt(() => new Date(clock));
    const bytes = linearRegressorOnnx([7, 7], 7);
    await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes));
    await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([8, 8], 8)));
    await client.deleteModel({ name: `${P}/${model}` });
    expect((await codeOf(client.getModel({ name: `${P}/${model}` }))).reason).toBe("MODEL_NOT_FOUND");
    expect(await h.deps.blobs.has(sha256(bytes))).toBe(true); // marked, within the grace period
    clock += 2 * 3600 * 1000;
    const other = uniqueName();
    await client.uploadModelVersion(uploadStream({ parent: `${P}/${other}` }, linearRegressorOnnx([9], 9)));
    await client.deleteModel({ name: `${P}/${other}` }); // deleting runs the due sweep
    expect(await h.deps.blobs.has(sha256(bytes))).toBe(false);
    const again = await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, bytes));
    expect(again.version!.version).toBe(1n);
  });

  it("20 concurrent uploads to one model make versions 1..20 exactly", async () => {
    const model = uniqueName();
    await h.client.createModel({ parent: "projects/default", modelId: model });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, format: "joblib", createModel: false }, new TextEncoder().encode(`model ${i}`))),
      ),
    );
    expect(results.map((r) => Number(r.version!.version)).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await h.client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(20n);
  });

  it("deletes one version: its tags go, latest moves back, its number is never given again, and its blobs are collected", async () => {
    const model = uniqueName("dropv");
    let clock = Date.now();
    const client = h.clientAt(() => new Date(clock));
    const kept = linearRegressorOnnx([1, 1], 1);
    const dropped = linearRegressorOnnx([3, 3], 3);
    await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, tags: ["stable"] }, kept));
    await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}`, tags: ["prod", "candidate"] }, dropped));
    await client.uploadAttachment(
      (async function* () {
        yield { message: { case: "header" as const, value: { version: `${P}/${model}/versions/2`, name: "notes.txt" } } };
        yield { message: { case: "chunk" as const, value: new TextEncoder().encode("only v2's") } };
      })(),
    );

    // By number only: a tag or "latest" could have moved to another version meanwhile.
    expect(await codeOf(client.deleteModelVersion({ name: `${P}/${model}/versions/prod` }))).toMatchObject({ code: Code.InvalidArgument, reason: "VERSION_NUMBER_REQUIRED" });
    expect(await codeOf(client.deleteModelVersion({ name: `${P}/${model}/versions/latest` }))).toMatchObject({ reason: "VERSION_NUMBER_REQUIRED" });
    expect(await codeOf(client.deleteModelVersion({ name: `${P}/${model}/versions/9` }))).toMatchObject({ code: Code.NotFound, reason: "VERSION_NOT_FOUND" });
    expect(await codeOf(client.deleteModelVersion({ name: `${P}/nope-${model}/versions/1` }))).toMatchObject({ code: Code.NotFound, reason: "MODEL_NOT_FOUND" });

    const { model: after } = await client.deleteModelVersion({ name: `${P}/${model}/versions/2` });
    expect(after).toMatchObject({ latestVersion: 1n, tags: { stable: 1n } });
    expect(await codeOf(client.getModelVersion({ name: `${P}/${model}/versions/2` }))).toMatchObject({ reason: "VERSION_NOT_FOUND" });
    expect(await codeOf(client.getModelVersion({ name: `${P}/${model}/versions/prod` }))).toMatchObject({ reason: "TAG_NOT_FOUND" });
    expect((await client.getModelVersion({ name: `${P}/${model}/versions/latest` })).version!.version).toBe(1n);
    expect((await client.listModelVersions({ parent: `${P}/${model}` })).versions.map((v) => v.version)).toEqual([1n]);

    const third = await client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([4], 4)));
    expect(third.version!.version).toBe(3n);
    expect((await client.getModel({ name: `${P}/${model}` })).model!.latestVersion).toBe(3n);

    // Its file and attachment are garbage once the grace period is over; the other version's file stays.
    expect(await h.deps.blobs.has(sha256(dropped))).toBe(true);
    clock += 2 * 3600 * 1000;
    await client.deleteModelVersion({ name: `${P}/${model}/versions/3` }); // deleting runs the due sweep
    expect(await h.deps.blobs.has(sha256(dropped))).toBe(false);
    expect(await h.deps.blobs.has(sha256(new TextEncoder().encode("only v2's")))).toBe(false);
    expect(await h.deps.blobs.has(sha256(kept))).toBe(true);

    const events = (await allEvents(h.bus))
      .map((e) => ({ subject: e.subject, event: fromBinary(RegistryEventSchema, e.data) }))
      .filter((e) => e.event.model === `${P}/${model}` && (e.subject.endsWith(".model_version.deleted") || (e.subject.endsWith(".tag.moved") && e.event.tagVersion === 0n)));
    expect(events.map((e) => [e.subject, e.event.version?.version ?? e.event.tag])).toEqual([
      ["kiln.registry.v1.model_version.deleted", 2n],
      ["kiln.registry.v1.tag.moved", "candidate"],
      ["kiln.registry.v1.tag.moved", "prod"],
      ["kiln.registry.v1.model_version.deleted", 3n],
    ]);
  });

  it("publishes model.created, model_version.created and model.deleted", async () => {
    const model = uniqueName("ev");
    await h.client.uploadModelVersion(uploadStream({ parent: `${P}/${model}` }, linearRegressorOnnx([1], 0)));
    await h.client.deleteModel({ name: `${P}/${model}` });
    const events = (await allEvents(h.bus))
      .map((e) => ({ subject: e.subject, event: fromBinary(RegistryEventSchema, e.data) }))
      .filter((e) => e.event.model === `${P}/${model}`);
    expect(events.map((e) => e.subject)).toEqual(["kiln.registry.v1.model.created", "kiln.registry.v1.model_version.created", "kiln.registry.v1.model.deleted"]);
    expect(events[1].event.version!.version).toBe(1n);
  });
});
