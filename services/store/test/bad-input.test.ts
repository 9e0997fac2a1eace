import { writeFile, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { errorInterceptor, errorReason } from "@kiln/core";
import { DatasetKind, StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { KilnApiError } from "@kiln/sdk";
import { register } from "../src/index.js";
import { startHarness, uniqueName, type Harness } from "./harness.js";

/** Raw generated client, to send what the SDK would never send. */
function rawClient(h: Harness) {
  const transport = createRouterTransport((router) => register(router, h.deps), {
    router: { interceptors: [errorInterceptor(h.deps.logger)], readMaxBytes: h.deps.limits.maxMessageBytes },
  });
  return createClient(StoreService, transport);
}

async function codeOf(p: Promise<unknown>): Promise<{ code: Code; reason?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof KilnApiError) return { code: e.code, reason: e.reason, message: e.message };
    const ce = ConnectError.from(e);
    return { code: ce.code, reason: errorReason(ce), message: ce.rawMessage };
  }
  throw new Error("expected the call to fail");
}

const ipc = (cols: Parameters<typeof tableFromArrays>[0]) => tableToIPC(tableFromArrays(cols), "stream");

describe("store: bad input changes nothing", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness({ maxDatasetBytes: 4 * 1024 * 1024, maxMessageBytes: 8 * 1024 * 1024 })));
  afterEach(async () => h.close());

  it("unknown dataset → NotFound DATASET_NOT_FOUND", async () => {
    const store = rawClient(h);
    const r = await codeOf(store.getDataset({ name: "projects/default/datasets/nope" }));
    expect(r).toMatchObject({ code: Code.NotFound, reason: "DATASET_NOT_FOUND" });
    await expect(h.kiln.datasets.get("nope")).rejects.toMatchObject({ name: "NotFoundError", reason: "DATASET_NOT_FOUND" });
    const v = await codeOf(store.getDatasetVersion({ name: "projects/default/datasets/nope/versions/1" }));
    expect(v.code).toBe(Code.NotFound);
  });

  it.each([
    ["empty", ""],
    ["dot-dot", ".."],
    ["slash", "a/b"],
    ["NUL", "a\u0000b"],
    ["300 chars", "x".repeat(300)],
  ])("invalid name (%s) → InvalidArgument", async (_label, id) => {
    const store = rawClient(h);
    const r = await codeOf(store.createDataset({ parent: "projects/default", datasetId: id, kind: DatasetKind.TABLE }));
    expect(r).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_NAME" });
    const w = await codeOf(h.kiln.datasets.put(`projects/default/datasets/${id}`, { x: [1] }));
    expect(w.code).toBe(Code.InvalidArgument);
    expect(await h.kiln.datasets.list()).toEqual([]);
  });

  it("corrupt Arrow bytes → InvalidArgument, no version", async () => {
    const store = rawClient(h);
    const name = `projects/default/datasets/${uniqueName()}`;
    const r = await codeOf(
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name, kind: DatasetKind.TABLE } } };
          yield { message: { case: "chunk" as const, value: { data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) } } };
        })(),
      ),
    );
    expect(r).toMatchObject({ code: Code.InvalidArgument, reason: "BAD_ARROW_CHUNK" });
    expect((await codeOf(store.getDataset({ name }))).code).toBe(Code.NotFound);
  });

  it("a chunk whose schema differs from the first → InvalidArgument naming both, no version", async () => {
    const store = rawClient(h);
    const name = `projects/default/datasets/${uniqueName()}`;
    const r = await codeOf(
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name, kind: DatasetKind.TABLE } } };
          yield { message: { case: "chunk" as const, value: { data: ipc({ a: new Int32Array([1]) }) } } };
          yield { message: { case: "chunk" as const, value: { data: ipc({ b: ["x"] }) } } };
        })(),
      ),
    );
    expect(r).toMatchObject({ code: Code.InvalidArgument, reason: "SCHEMA_MISMATCH" });
    expect(r.message).toContain("chunk 1");
    expect((await codeOf(store.getDataset({ name }))).code).toBe(Code.NotFound);
  });

  it("a write stream cut off half way makes no version", async () => {
    const store = rawClient(h);
    const name = uniqueName();
    await h.kiln.datasets.put(name, { a: new Int32Array([1]) });
    const full = `projects/default/datasets/${name}`;
    const cut = await codeOf(
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name: full, kind: DatasetKind.TABLE } } };
          yield { message: { case: "chunk" as const, value: { data: ipc({ a: new Int32Array([2]) }) } } };
          throw new Error("connection lost");
        })(),
      ),
    );
    expect(cut.code).toBeDefined(); // codeOf throws if the write succeeds: Connect has no OK code
    const info = await h.kiln.datasets.info(name);
    expect(info.latestVersion).toBe(1);
    expect(info.latest?.rowCount).toBe(1);
  });

  it("a write whose header asks for a commit stores only what the commit counts, at the stream's end; older clients still commit at the end", async () => {
    const store = rawClient(h);
    const name = uniqueName();
    const full = `projects/default/datasets/${name}`;
    const chunk = { message: { case: "chunk" as const, value: { data: ipc({ a: new Int32Array([1]) }) } } };
    const write = (...rest: unknown[]) =>
      codeOf(
        store.writeDataset(
          (async function* () {
            yield { message: { case: "header" as const, value: { name: full, kind: DatasetKind.TABLE, endsWithCommit: true } } };
            yield* rest as never[];
          })(),
        ),
      );
    expect(await write(chunk, chunk)).toMatchObject({ code: Code.Aborted, reason: "WRITE_NOT_COMMITTED", message: `the write of ${full} ended before its commit message (the client stopped: an error or a cancel on its side): nothing was stored` });
    expect(await write(chunk, chunk, { message: { case: "commit", value: { pieces: 3n } } })).toMatchObject({ code: Code.InvalidArgument, reason: "COMMIT_MISMATCH", message: expect.stringContaining("counts 3 pieces, the stream carried 2") });
    expect(await write(chunk, { message: { case: "commit", value: { pieces: 1n } } }, chunk)).toMatchObject({ code: Code.InvalidArgument, reason: "MESSAGE_AFTER_COMMIT" });
    await expect(h.kiln.datasets.info(name)).rejects.toMatchObject({ reason: "DATASET_NOT_FOUND" });
    // Committed: stored. Without the header's flag (a client from before it), the end of the stream commits.
    const committed = await store.writeDataset(
      (async function* () {
        yield { message: { case: "header" as const, value: { name: full, kind: DatasetKind.TABLE, endsWithCommit: true } } };
        yield chunk;
        yield { message: { case: "commit" as const, value: { pieces: 1n } } };
      })(),
    );
    expect(committed.version?.rowCount).toBe(1n);
    const older = await store.writeDataset(
      (async function* () {
        yield { message: { case: "header" as const, value: { name: full, kind: DatasetKind.TABLE } } };
        yield chunk;
      })(),
    );
    expect(older.version?.rowCount).toBe(2n);
  });

  it("a message over the limit → ResourceExhausted", async () => {
    const store = rawClient(h);
    const r = await codeOf(
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name: `projects/default/datasets/${uniqueName()}`, kind: DatasetKind.FILE } } };
          yield { message: { case: "chunk" as const, value: { data: new Uint8Array(9 * 1024 * 1024) } } };
        })(),
      ),
    );
    expect(r.code).toBe(Code.ResourceExhausted);
  });

  it("a dataset over the limit → ResourceExhausted, no version", async () => {
    const name = uniqueName();
    const r = await codeOf(h.kiln.datasets.put(name, new Uint8Array(5 * 1024 * 1024)));
    expect(r).toMatchObject({ code: Code.ResourceExhausted, reason: "DATASET_TOO_LARGE" });
    await expect(h.kiln.datasets.info(name)).rejects.toMatchObject({ name: "NotFoundError" });
  });

  it("a blob changed on disk → DataLoss on read", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, new Uint8Array(1000).fill(7));
    const files = await findFiles(join(h.dir, "blobs"));
    const blob = files.find((f) => !f.includes("/blobs/tmp/"))!;
    await writeFile(blob, new Uint8Array(1000).fill(8));
    await expect(h.kiln.datasets.get(name)).rejects.toMatchObject({ name: "DataLossError" });
  });

  it("a bad filter → InvalidArgument naming the position", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, [{ age: 1, country: "DE" }]);
    const err = await codeOf(h.kiln.datasets.get(name, { filter: "age > AND country = 'DE'" }));
    expect(err).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_FILTER" });
    expect(err.message).toMatch(/position 6/);
    const unknown = await codeOf(h.kiln.datasets.get(name, { filter: "height > 3" }));
    expect(unknown.code).toBe(Code.InvalidArgument);
    expect(unknown.message).toContain("height");
    const cols = await codeOf(h.kiln.datasets.get(name, { columns: ["nope"] }));
    expect(cols).toMatchObject({ code: Code.InvalidArgument, reason: "UNKNOWN_COLUMN" });
  });

  it("a bad list filter or page token → InvalidArgument", async () => {
    const store = rawClient(h);
    expect((await codeOf(store.listDatasets({ filter: "kind = " }))).code).toBe(Code.InvalidArgument);
    expect((await codeOf(store.listDatasets({ pageToken: "garbage" }))).code).toBe(Code.InvalidArgument);
  });

  it("writing another kind into an existing dataset → FailedPrecondition", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, { x: [1] });
    await expect(h.kiln.datasets.put(name, { some: "doc" }, { kind: "document" })).rejects.toMatchObject({
      name: "FailedPreconditionError",
      reason: "KIND_MISMATCH",
    });
  });

  it("invalid JSON in a document write → InvalidArgument", async () => {
    const store = rawClient(h);
    const r = await codeOf(
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name: `projects/default/datasets/${uniqueName()}`, kind: DatasetKind.DOCUMENT } } };
          yield { message: { case: "chunk" as const, value: { data: new TextEncoder().encode('{"a": ') } } };
        })(),
      ),
    );
    expect(r).toMatchObject({ code: Code.InvalidArgument, reason: "BAD_JSON" });
  });
});

async function findFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir)) {
    const p = join(dir, entry);
    if ((await stat(p)).isDirectory()) out.push(...(await findFiles(p)));
    else out.push(p);
  }
  return out;
}
