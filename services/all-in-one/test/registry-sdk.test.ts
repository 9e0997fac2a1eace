import { createHash, randomUUID } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { binaryClassifierOnnx, linearRegressorOnnx, OnnxWorkerPool } from "@kiln/onnx";
import { InvalidArgumentError, Kiln, NotFoundError } from "@kiln/sdk";
import { embeddedServer } from "./embedded-server.js";
import { unique } from "./helpers.js";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const text = (s: string) => new TextEncoder().encode(s);

/** Rows of small whole numbers over 4, so float32 sums are exact. */
function rows(n: number, k: number): { X: number[][]; data: Float32Array } {
  const X = Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => ((i * 7 + j * 3) % 11) / 4 - 1));
  return { X, data: Float32Array.from(X.flat()) };
}
const dot = (row: number[], coef: number[]) => row.reduce((sum, x, j) => sum + x * coef[j], 0);

describe("kiln.models against a real server", () => {
  const server = embeddedServer("registry-sdk");
  const pool = new OnnxWorkerPool();

  afterAll(async () => {
    await pool.close();
  });

  it("puts an ONNX model with metadata, comment, tags and attachments; get shows its signature", async () => {
    const name = unique("churn");
    const bytes = linearRegressorOnnx([0.5, -1, 2], 0.25);
    const put = await server.kiln.models.put(name, bytes, {
      metadata: { accuracy: 0.91, params: { lr: 0.1, layers: [64, 32] } },
      comment: "first fit",
      tags: ["prod"],
      attachments: { "README.md": text("# churn\n") },
    });
    expect(put).toMatchObject({ model: name, version: 1, format: "onnx", runnable: true, comment: "first fit", tags: ["prod"], size: bytes.length, sha256: sha256(bytes) });
    expect(put.attachments.map((a) => a.name)).toEqual(["README.md"]);

    const got = await server.kiln.models.get(`${name}:prod`);
    expect(got.name).toBe(`projects/default/models/${name}/versions/1`);
    expect(got.metadata).toEqual({ accuracy: 0.91, params: { lr: 0.1, layers: [64, 32] } });
    expect(got.signature?.inputs).toEqual([{ name: "X", kind: "tensor", elementType: "float32", shape: ["N", 3], type: expect.any(String) }]);
    expect(got.signature?.outputs).toEqual([expect.objectContaining({ name: "variable", elementType: "float32", shape: ["N", 1] })]);
    expect(got.onnx).toMatchObject({ producerName: "kiln" });
    expect(got.onnx!.irVersion).toBeGreaterThan(0);
    expect(got.tags).toEqual(["prod"]);
    expect(got.author).not.toBe("");
    expect(got.createTime).toBeInstanceOf(Date);
    expect(got.attachments).toEqual([expect.objectContaining({ name: "README.md", size: 8, sha256: sha256(text("# churn\n")), mediaType: "text/markdown" })]);
    expect(new TextDecoder().decode(await server.kiln.models.attachment(name, "README.md"))).toBe("# churn\n");
  });

  it("numbers versions in order, and a tag moves to the version it is set on", async () => {
    const name = unique("tags");
    await server.kiln.models.put(name, linearRegressorOnnx([1], 0), { tags: ["prod"] });
    const v2 = await server.kiln.models.put(name, linearRegressorOnnx([2], 0));
    expect(v2.version).toBe(2);
    expect((await server.kiln.models.get(name)).version).toBe(2);
    expect((await server.kiln.models.get(`${name}:latest`)).version).toBe(2);
    expect((await server.kiln.models.get(`${name}:prod`)).version).toBe(1);

    expect(await server.kiln.models.tag(`${name}:2`, "prod")).toBe(1);
    expect(await server.kiln.models.tag(`${name}:1`, "previous")).toBe(0);
    expect((await server.kiln.models.get(`${name}:prod`)).version).toBe(2);
    expect((await server.kiln.models.get(`${name}:1`)).tags).toEqual(["previous"]);
    const info = await server.kiln.models.info(name);
    expect(info).toMatchObject({ id: name, latestVersion: 2, tags: { prod: 2, previous: 1 } });
    expect(info.latest?.version).toBe(2);

    expect((await server.kiln.models.untag(name, "previous")).tags).toEqual({ prod: 2 });
    await expect(server.kiln.models.get(`${name}:previous`)).rejects.toMatchObject({ constructor: NotFoundError, reason: "TAG_NOT_FOUND" });
  });

  it("merges metadata keys, replaces the object, and sets the comment without a new version", async () => {
    const name = unique("meta");
    await server.kiln.models.put(name, linearRegressorOnnx([1], 0), { metadata: { a: 1, b: "x" }, comment: "v1" });
    expect((await server.kiln.models.setMetadata(name, { b: "y", c: true }, { merge: true })).metadata).toEqual({ a: 1, b: "y", c: true });
    expect((await server.kiln.models.setMetadata(`${name}:1`, { a: undefined }, { merge: true })).metadata).toEqual({ b: "y", c: true });
    expect((await server.kiln.models.setMetadata(name, { z: 0 })).metadata).toEqual({ z: 0 });
    const commented = await server.kiln.models.setComment(name, "better words");
    expect(commented).toMatchObject({ version: 1, comment: "better words", metadata: { z: 0 } });
    expect((await server.kiln.models.log(name)).map((v) => v.version)).toEqual([1]);
  });

  it("downloads identical bytes and attachments, and the model predicts what its coefficients say", async () => {
    const name = unique("linear");
    const coef = [0.5, -1.25, 2];
    const intercept = -0.75;
    const bytes = linearRegressorOnnx(coef, intercept);
    const notes = join(server.dir, `${name}-notes.txt`);
    await writeFile(notes, "trained on iris\n");
    await server.kiln.models.put(name, bytes, { fileName: "linear.onnx", attachments: [notes] });
    await server.kiln.models.attach(name, "weights.bin", new Uint8Array([1, 2, 3]));

    const out = join(server.dir, `${name}-out`);
    const downloaded = await server.kiln.models.download(name, out);
    expect(downloaded.model).toBe(join(out, "linear.onnx"));
    const written = new Uint8Array(await readFile(downloaded.model));
    expect(sha256(written)).toBe(sha256(bytes));
    expect(downloaded.attachments.map((p) => p.slice(out.length + 1)).sort()).toEqual([join("attachments", basename(notes)), join("attachments", "weights.bin")]);
    expect(await readFile(join(out, "attachments", basename(notes)), "utf8")).toBe("trained on iris\n");
    expect([...(await readFile(join(out, "attachments", "weights.bin")))]).toEqual([1, 2, 3]);
    expect(sha256(await server.kiln.models.bytes(name))).toBe(sha256(bytes));

    const { X, data } = rows(9, 3);
    const { variable } = await pool.run(written, { X: { type: "float32", dims: [9, 3], data } });
    expect(variable.dims).toEqual([9, 1]);
    X.forEach((row, i) => expect(variable.data[i]).toBeCloseTo(dot(row, coef) + intercept, 5));

    expect((await server.kiln.models.detach(name, "weights.bin")).attachments.map((a) => a.name)).toEqual([basename(notes)]);
  });

  it("a classifier read back inline (no chunk URL) predicts its labels", async () => {
    const name = unique("classifier");
    const bytes = binaryClassifierOnnx([1.5, -2], 0.25, ["stays", "churns"]);
    await server.kiln.models.put(name, bytes);
    const inline = await Kiln.connect({ transport: createGrpcTransport({ baseUrl: server.url }) });
    const back = await inline.models.bytes(name);
    expect(sha256(back)).toBe(sha256(bytes));
    const out = await pool.run(back, { X: { type: "float32", dims: [2, 2], data: Float32Array.of(2, 0, -2, 0) } });
    expect(out.label.data).toEqual(["churns", "stays"]);
  });

  it("without streaming requests (as in a browser), puts a version and its attachments in one message each", async () => {
    const oneMessage = await Kiln.connect({ transport: createGrpcTransport({ baseUrl: server.url }), writeMode: "resumable" });
    const name = unique("one-message");
    const bytes = linearRegressorOnnx([1, 2], 3);
    const version = await oneMessage.models.put(name, bytes, { tags: ["prod"], attachments: { "notes.txt": new TextEncoder().encode("hello") } });
    expect(version).toMatchObject({ version: 1, tags: ["prod"], sha256: sha256(bytes) });
    expect(version.attachments.map((a) => a.name)).toEqual(["notes.txt"]);
    expect(sha256(await oneMessage.models.bytes(`${name}:prod`))).toBe(sha256(bytes));
    oneMessage.close();
  });

  it("a model over several chunks round-trips by reference, inline and through a file", async () => {
    const name = unique("wide");
    const coef = Array.from({ length: 5_000_000 }, (_, i) => (i % 5) - 2); // about 20 MB: more chunks than uploads in flight, so read buffers are reused
    const bytes = linearRegressorOnnx(coef, 1);
    const path = join(server.dir, `${name}.onnx`);
    await writeFile(path, bytes);
    const seen: number[] = [];
    const put = await server.kiln.models.put(name, path, { onProgress: (p) => seen.push(p.bytes) });
    expect(put).toMatchObject({ fileName: `${name}.onnx`, format: "onnx", size: bytes.length, sha256: sha256(bytes) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(bytes.length);
    expect(sha256(await server.kiln.models.bytes(name))).toBe(sha256(bytes));
    const byReference = await server.kiln.models.download(name, join(server.dir, `${name}-refs`)); // five chunks through four buffers in flight: one is reused
    expect(sha256(await readFile(byReference.model))).toBe(sha256(bytes));
    const inline = await Kiln.connect({ transport: createGrpcTransport({ baseUrl: server.url }) });
    expect(sha256(await inline.models.bytes(name))).toBe(sha256(bytes));
    const downloaded = await inline.models.download(name, join(server.dir, `${name}-out`));
    expect(sha256(await readFile(downloaded.model))).toBe(sha256(bytes));
  });

  it("log lists versions newest first, of one model or of all", async () => {
    const a = unique("log-a");
    const b = unique("log-b");
    await server.kiln.models.put(a, linearRegressorOnnx([1], 0), { comment: "a1" });
    await server.kiln.models.put(a, linearRegressorOnnx([2], 0), { comment: "a2" });
    await server.kiln.models.put(b, linearRegressorOnnx([3], 0), { comment: "b1" });
    expect((await server.kiln.models.log(a)).map((v) => [v.version, v.comment])).toEqual([
      [2, "a2"],
      [1, "a1"],
    ]);
    const all = await server.kiln.models.log();
    const ours = all.filter((v) => v.model === a || v.model === b).map((v) => v.comment);
    expect(ours.filter((c) => c.startsWith("a"))).toEqual(["a2", "a1"]);
    expect(new Set(ours)).toEqual(new Set(["a1", "a2", "b1"]));
    const times = all.map((v) => v.createTime!.getTime());
    expect(times).toEqual([...times].sort((x, y) => y - x));
    expect((await server.kiln.models.list()).map((m) => m.id)).toEqual(expect.arrayContaining([a, b]));
  });

  it("drop removes the model; the name is free again and numbering restarts at 1", async () => {
    const name = unique("drop");
    await server.kiln.models.put(name, linearRegressorOnnx([1], 0), { tags: ["prod"] });
    await server.kiln.models.put(name, linearRegressorOnnx([2], 0));
    await server.kiln.models.drop(name);
    await expect(server.kiln.models.info(name)).rejects.toMatchObject({ constructor: NotFoundError, reason: "MODEL_NOT_FOUND" });
    await expect(server.kiln.models.get(`${name}:prod`)).rejects.toBeInstanceOf(NotFoundError);
    expect((await server.kiln.models.list()).map((m) => m.id)).not.toContain(name);
    const again = await server.kiln.models.put(name, linearRegressorOnnx([3], 0));
    expect(again.version).toBe(1);
    expect(again.tags).toEqual([]);
    expect((await server.kiln.models.log(name)).map((v) => v.version)).toEqual([1]);
  });

  it("bad refs fail before any call; missing models, versions and tags are NotFound with a reason", async () => {
    const offline = await Kiln.connect("http://127.0.0.1:1"); // any call would fail Unavailable
    for (const ref of ["", "churn:", ":1", "churn:1:2", "churn:0", "a b", "../etc", "churn:-1", "churn/3"]) {
      await expect(offline.models.get(ref), ref).rejects.toMatchObject({ constructor: InvalidArgumentError, reason: "INVALID_NAME" });
    }
    await expect(offline.models.put("bad name", new Uint8Array(1))).rejects.toBeInstanceOf(InvalidArgumentError);
    offline.close();

    const name = unique("missing");
    await expect(server.kiln.models.get(name)).rejects.toMatchObject({ constructor: NotFoundError, reason: "MODEL_NOT_FOUND" });
    await server.kiln.models.put(name, linearRegressorOnnx([1], 0));
    await expect(server.kiln.models.get(`${name}:7`)).rejects.toMatchObject({ constructor: NotFoundError, reason: "VERSION_NOT_FOUND" });
    await expect(server.kiln.models.get(`${name}:nope`)).rejects.toMatchObject({ constructor: NotFoundError, reason: "TAG_NOT_FOUND" });
    await expect(server.kiln.models.attachment(name, "nope.txt")).rejects.toMatchObject({ constructor: NotFoundError, reason: "ATTACHMENT_NOT_FOUND" });
    await expect(server.kiln.models.bytes(`${name}:7`)).rejects.toMatchObject({ constructor: NotFoundError, reason: "VERSION_NOT_FOUND" });
  });

  it("bytes that are not ONNX are refused as format onnx and leave no version", async () => {
    const name = unique("garbage");
    await expect(server.kiln.models.put(name, text("definitely not a model"), { format: "onnx" })).rejects.toBeInstanceOf(InvalidArgumentError);
    const info = await server.kiln.models.info(name).catch((e: unknown) => e);
    if (info instanceof NotFoundError) expect(info.reason).toBe("MODEL_NOT_FOUND");
    else expect(info).toMatchObject({ latestVersion: 0 });

    await server.kiln.models.put(name, linearRegressorOnnx([1], 0));
    await expect(server.kiln.models.put(name, text("still not a model"))).rejects.toBeInstanceOf(InvalidArgumentError);
    expect((await server.kiln.models.log(name)).map((v) => v.version)).toEqual([1]);
  });

  it("stores a pickle-like file as an opaque, non-runnable version", async () => {
    const name = unique("pickle");
    const pickle = Uint8Array.of(0x80, 0x04, 0x95, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x8c, 0x07, ...text("sklearn"), 0x94, 0x2e);
    const path = join(server.dir, `${name}.pkl`);
    await writeFile(path, pickle);
    const fromFile = await server.kiln.models.put(name, path);
    expect(fromFile).toMatchObject({ format: "sklearn-pickle", runnable: false, fileName: `${name}.pkl`, size: pickle.length, sha256: sha256(pickle) });
    const fromBytes = await server.kiln.models.put(name, pickle, { format: "sklearn-pickle" });
    expect(fromBytes).toMatchObject({ version: 2, format: "sklearn-pickle", runnable: false });
    expect(fromBytes.signature?.inputs ?? []).toEqual([]);
    expect([...(await server.kiln.models.bytes(`${name}:2`))]).toEqual([...pickle]);
    const downloaded = await server.kiln.models.download(`${name}:2`, join(server.dir, `${name}-out`));
    expect(basename(downloaded.model)).toMatch(/\.pkl$/);
    expect([...(await readFile(downloaded.model))]).toEqual([...pickle]);
  });

  it("creates an untrained estimator only if the runtime could fit it: a bad kind or param is refused and creates nothing", async () => {
    const name = unique("untrained");
    expect(await server.kiln.models.create(name, { estimator: "ridge", params: { alpha: 0.5, fit_intercept: false } })).toMatchObject({ id: name, latestVersion: 1 });
    for (const [spec, reason] of [
      [{ estimator: "logistic_regresion" }, "UNKNOWN_ESTIMATOR"],
      [{ estimator: "logistic_regression", params: { Cx: 1 } }, "UNKNOWN_PARAMETER"],
    ] as const) {
      const bad = unique("bad");
      const err = await server.kiln.models.create(bad, spec).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err).toMatchObject({ reason });
      await expect(server.kiln.models.info(bad)).rejects.toMatchObject({ reason: "MODEL_NOT_FOUND" });
    }
  });

  it("creates and updates a model's description and labels", async () => {
    const name = unique("described");
    const created = await server.kiln.models.create(name, { description: "churn risk", labels: { team: "risk" } });
    expect(created).toMatchObject({ id: name, description: "churn risk", labels: { team: "risk" }, latestVersion: 0 });
    const updated = await server.kiln.models.update(name, { description: "churn risk, v2" });
    expect(updated).toMatchObject({ description: "churn risk, v2", labels: { team: "risk" } });
    expect((await server.kiln.models.list({ filter: `name = "${name}"` })).map((m) => m.id)).toEqual([name]);
  });
});
