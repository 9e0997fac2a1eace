import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Float64, Int64, Table, tableFromArrays, Utf8, vectorFromArray } from "apache-arrow";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { DatasetEventSchema, DatasetKind, StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { schemaToIpc } from "@kiln/data";
import { RowEncoding } from "@kiln/proto/kiln/common/v1/table_pb";
import { Kiln, type LocalChunkReader } from "@kiln/sdk";
import { CHUNK_PATH_PREFIX } from "../src/index.js";
import { startHarness, takeEvents, uniqueName, type Harness } from "./harness.js";

const rowsOf = (t: unknown) => (t as Table).toArray().map((r) => r.toJSON());

describe("store: datasets through the SDK", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  it("puts rows and gets the same rows back, versioned", async () => {
    const name = uniqueName();
    const v1 = await h.kiln.datasets.put(name, [
      { id: 1, city: "Berlin", vip: true },
      { id: 2, city: "Paris", vip: false },
    ]);
    expect(v1).toMatchObject({ version: 1, kind: "table", rowCount: 2, mode: "create" }); // an upsert records what it did
    expect(v1.fields.map((f) => f.name)).toEqual(["id", "city", "vip"]);
    const rows = rowsOf(await h.kiln.datasets.get(name));
    expect(rows).toEqual([
      { id: 1, city: "Berlin", vip: true },
      { id: 2, city: "Paris", vip: false },
    ]);
    expect(await h.kiln.datasets.put(name, [{ id: 3, city: "Rome", vip: false }])).toMatchObject({ version: 2, rowCount: 3, mode: "append" });
  });

  it("a client on a given transport reads chunks by reference through its local reader (as the embedded executor does)", async () => {
    await h.kiln.datasets.put("local", tableFromArrays({ x: Float64Array.from({ length: 1000 }, (_, i) => i) }));
    const asked: string[] = [];
    const localChunks: LocalChunkReader = async (path) => {
      asked.push(path);
      const sha256 = path.slice(CHUNK_PATH_PREFIX.length);
      const pieces: Uint8Array[] = [];
      for await (const piece of h.deps.blobs.get(sha256)) pieces.push(piece);
      return { bytes: Buffer.concat(pieces), sha256 };
    };
    // Nothing listens at this URL: every chunk has to come through the local reader.
    const kiln = await Kiln.connect({ transport: h.transport, url: "http://127.0.0.1:9", localChunks });
    const back = (await kiln.datasets.get("local")) as Table;
    expect(back.getChild("x")!.get(999)).toBe(999);
    expect(asked.length).toBeGreaterThan(0);
    expect(asked.every((p) => p.startsWith(CHUNK_PATH_PREFIX))).toBe(true);
  });

  it("appends by default, sharing the previous version's chunks; older versions stay readable", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, { x: [1, 2, 3] });
    const v2 = await h.kiln.datasets.put(name, { x: [4, 5] });
    expect(v2).toMatchObject({ version: 2, rowCount: 5, chunkCount: 2 });
    expect(rowsOf(await h.kiln.datasets.get(name)).map((r) => r.x)).toEqual([1, 2, 3, 4, 5]);
    expect(rowsOf(await h.kiln.datasets.get(name, { version: 1 })).map((r) => r.x)).toEqual([1, 2, 3]);
    const versions = await h.kiln.datasets.versions(name);
    expect(versions.map((v) => v.version)).toEqual([2, 1]);
    expect(versions[0].sha256).not.toEqual(versions[1].sha256);
  });

  it("replace makes a version with only the new rows; create fails if the dataset exists", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, { x: [1, 2, 3] }, { mode: "create" });
    await expect(h.kiln.datasets.put(name, { x: [9] }, { mode: "create" })).rejects.toMatchObject({
      name: "AlreadyExistsError",
      reason: "DATASET_EXISTS",
    });
    const v2 = await h.kiln.datasets.put(name, { x: [7] }, { mode: "replace" });
    expect(v2).toMatchObject({ version: 2, rowCount: 1 });
    expect(rowsOf(await h.kiln.datasets.get(name))).toEqual([{ x: 7 }]);
  });

  it("append mode needs an existing dataset", async () => {
    await expect(h.kiln.datasets.put(uniqueName(), { x: [1] }, { mode: "append" })).rejects.toMatchObject({
      name: "NotFoundError",
      reason: "DATASET_NOT_FOUND",
    });
  });

  it("appends plain rows and columns in the table's column types (whole numbers to Int64, a column of nulls keeping its type)", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, new Table({ id: vectorFromArray([1n, 2n], new Int64()), v: vectorFromArray([0.5, 1.5], new Float64()), s: vectorFromArray(["a", "b"], new Utf8()) }));
    // Alone, these would be id Float64 and s Utf8-of-nothing: each append would be a SCHEMA_MISMATCH.
    await h.kiln.datasets.put(name, [{ id: 3, v: 2, s: null }, { id: 9007199254740993n, v: null }]);
    await h.kiln.datasets.put(name, { id: [4], v: [null], s: ["x"] });
    const info = await h.kiln.datasets.info(name);
    expect([info.latestVersion, info.latest?.fields.map((f) => `${f.name}: ${f.type}`)]).toEqual([3, ["id: Int64", "v: Float64", "s: Utf8"]]);
    const t = (await h.kiln.datasets.get(name)) as Table;
    expect(Array.from(t.getChild("id")!.toArray() as BigInt64Array)).toEqual([1n, 2n, 3n, 9007199254740993n, 4n]);
    expect(rowsOf(t).map((r) => [r.v, r.s])).toEqual([[0.5, "a"], [1.5, "b"], [2, null], [null, null], [null, "x"]]);
  });

  it("appending a different schema fails and makes no version", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, { x: [1] });
    await expect(h.kiln.datasets.put(name, { y: ["a"] })).rejects.toMatchObject({ name: "FailedPreconditionError", reason: "SCHEMA_MISMATCH" });
    expect((await h.kiln.datasets.info(name)).latestVersion).toBe(1);
  });

  it("reads with projection, a pushed-down filter, offset and limit", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, [
      { name: "a", age: 25, country: "DE", vip: false },
      { name: "b", age: 35, country: "DE", vip: false },
      { name: "c", age: 45, country: "US", vip: false },
      { name: "d", age: 20, country: "US", vip: true },
      { name: "e", age: 50, country: "FR", vip: false },
    ]);
    await h.kiln.datasets.put(name, [{ name: "f", age: 31, country: "FR", vip: false }]);
    const filtered = rowsOf(
      await h.kiln.datasets.get(name, { filter: 'age > 30 AND country IN ("DE","FR") OR vip = true', columns: ["name", "age"] }),
    );
    expect(filtered).toEqual([
      { name: "b", age: 35 },
      { name: "d", age: 20 },
      { name: "e", age: 50 },
      { name: "f", age: 31 },
    ]);
    const lastColumns = rowsOf(await h.kiln.datasets.get(name, { filter: "age < 25", columns: ["vip", "country"] }));
    expect(lastColumns).toEqual([{ vip: true, country: "US" }]);
    const page = rowsOf(await h.kiln.datasets.get(name, { offset: 2, limit: 3, columns: ["name"] }));
    expect(page).toEqual([{ name: "c" }, { name: "d" }, { name: "e" }]);
    const acrossChunks = rowsOf(await h.kiln.datasets.get(name, { offset: 4, limit: 10, columns: ["name"] }));
    expect(acrossChunks).toEqual([{ name: "e" }, { name: "f" }]);
  });

  it("a read of no rows still carries the columns, in one chunk with the schema alone, also for a client that reads by reference", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, [{ name: "a", age: 25 }, { name: "b", age: 35 }]);
    // A version written with a schema and no chunk at all.
    const empty = uniqueName();
    const store = createClient(StoreService, h.transport);
    const header = { name: `projects/default/datasets/${empty}`, kind: DatasetKind.TABLE, arrowSchema: schemaToIpc(tableFromArrays({ x: new Float64Array(0) }).schema) };
    await store.writeDataset(createAsyncIterable([{ message: { case: "header" as const, value: header } }]));
    // Nothing listens at this URL, and there is nothing to fetch by reference: a filtered read comes inline, an empty version has no chunk.
    const byReference = await Kiln.connect({ transport: h.transport, url: "http://127.0.0.1:9", localChunks: () => Promise.reject(new Error("no chunk to fetch")) });
    for (const kiln of [h.kiln, byReference]) {
      const none = (await kiln.datasets.get(name, { filter: "age > 99", columns: ["age"] })) as Table;
      expect(none.numRows).toBe(0);
      expect(none.schema.fields.map((f) => f.name)).toEqual(["age"]);
      const whole = (await kiln.datasets.get(empty)) as Table;
      expect([whole.numRows, whole.schema.fields.map((f) => f.name)]).toEqual([0, ["x"]]);
    }
    const messages = [];
    for await (const m of store.readDataset({ name: `projects/default/datasets/${name}`, filter: "age > 99" })) messages.push(m.message.case);
    expect(messages).toEqual(["header", "chunk"]);
  });

  it("reads a table as JSON rows for clients without Arrow: filtered, projected, in pieces, never by reference; other kinds are refused", async () => {
    const name = uniqueName();
    const rows = Array.from({ length: 30_000 }, (_, i) => ({ id: i, city: i % 2 ? "Paris" : "Berlin", score: i / 4 }));
    await h.kiln.datasets.put(name, rows);
    const store = createClient(StoreService, h.transport);
    const read = async (request: { byReference?: boolean; filter?: string; columns?: string[] }) => {
      const cases: (string | undefined)[] = [];
      const got: unknown[] = [];
      const columns = new Set<string>();
      for await (const m of store.readDataset({ name: `projects/default/datasets/${name}`, encoding: RowEncoding.JSON, ...request })) {
        cases.push(m.message.case);
        if (m.message.case === "json") got.push(...m.message.value.rows), columns.add(m.message.value.columns.join());
      }
      return { cases, rows: got, columns: [...columns] };
    };
    const whole = await read({ byReference: true });
    expect(whole.rows).toEqual(rows);
    expect(whole.columns).toEqual(["id,city,score"]);
    expect(whole.cases[0]).toBe("header");
    expect(new Set(whole.cases.slice(1))).toEqual(new Set(["json"]));
    expect(whole.cases.length).toBeGreaterThan(2); // a megabyte of rows a message at most
    const some = await read({ filter: "id >= 29998 AND city = \"Berlin\"", columns: ["score", "id"] });
    expect(some).toMatchObject({ rows: [{ score: 7499.5, id: 29998 }], columns: ["score,id"] });
    expect(await read({ filter: "id < 0" })).toEqual({ cases: ["header"], rows: [], columns: [] });

    await h.kiln.datasets.put(`${name}-t`, { data: new Float32Array(4), shape: [2, 2] });
    const refused = (async () => {
      for await (const _ of store.readDataset({ name: `projects/default/datasets/${name}-t`, encoding: RowEncoding.JSON }));
    })();
    await expect(refused).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringMatching(/JSON rows are read from tables; .* is a TENSOR/) });
    const unknown = (async () => {
      for await (const _ of store.readDataset({ name: `projects/default/datasets/${name}`, encoding: 7 as RowEncoding }));
    })();
    await expect(unknown).rejects.toMatchObject({ code: Code.InvalidArgument, rawMessage: expect.stringContaining("encoding 7 is not a RowEncoding") });
  });

  it("streams record batches in and out", async () => {
    const name = uniqueName();
    const batches = Array.from({ length: 5 }, (_, i) => tableFromArrays({ i: Int32Array.from({ length: 1000 }, (_, j) => i * 1000 + j) }));
    const v = await h.kiln.datasets.write(name, (async function* () {
      yield* batches;
    })());
    expect(v.rowCount).toBe(5000);
    let seen = 0;
    let sum = 0;
    for await (const batch of h.kiln.datasets.read(name)) {
      seen += batch.numRows;
      for (const x of batch.getChild("i")!.toArray() as Int32Array) sum += x;
    }
    expect(seen).toBe(5000);
    expect(sum).toBe((4999 * 5000) / 2);
  });

  it("keeps an Arrow table's column types", async () => {
    const name = uniqueName();
    const table = tableFromArrays({ f: new Float32Array([1.5, 2.5]), i: new Int32Array([7, 8]), s: ["x", "y"] });
    await h.kiln.datasets.put(name, table);
    const back = (await h.kiln.datasets.get(name)) as Table;
    expect(back.schema.fields.map((f) => String(f.type))).toEqual(table.schema.fields.map((f) => String(f.type)));
    expect(Array.from(back.getChild("f")!.toArray() as Float32Array)).toEqual([1.5, 2.5]);
  });

  it("stores tensors with dtype and shape; appends rows; reads row ranges", async () => {
    const name = uniqueName();
    const data = Float32Array.from({ length: 12 }, (_, i) => i);
    const v1 = await h.kiln.datasets.put(name, { data, shape: [4, 3] });
    expect(v1).toMatchObject({ kind: "tensor", dtype: "float32", shape: [4, 3], rowCount: 4 });
    await h.kiln.datasets.put(name, { data: new Float32Array([12, 13, 14]), shape: [1, 3] });
    const all = (await h.kiln.datasets.get(name)) as { data: Float32Array; shape: number[]; dtype: string };
    expect(all.shape).toEqual([5, 3]);
    expect(all.dtype).toBe("float32");
    expect(Array.from(all.data)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    const slice = (await h.kiln.datasets.get(name, { offset: 1, limit: 2 })) as { data: Float32Array; shape: number[] };
    expect(slice.shape).toEqual([2, 3]);
    expect(Array.from(slice.data)).toEqual([3, 4, 5, 6, 7, 8]);
    await expect(h.kiln.datasets.put(name, { data: new Float32Array(4), shape: [1, 4] })).rejects.toMatchObject({ reason: "SHAPE_MISMATCH" });
  });

  it("stores any JSON value as a document; appends collect documents in order", async () => {
    const name = uniqueName();
    const doc = { model: "churn", params: { C: 0.5, tags: ["a", null] }, ok: true };
    await h.kiln.datasets.put(name, doc);
    expect(await h.kiln.datasets.get(name)).toEqual(doc);
    await h.kiln.datasets.put(name, [1, "two", 3]);
    expect(await h.kiln.datasets.get(name)).toEqual([doc, [1, "two", 3]]);
    const scalar = uniqueName();
    await h.kiln.datasets.put(scalar, "just a string");
    expect(await h.kiln.datasets.get(scalar)).toBe("just a string");
  });

  it("stores files as bytes with a media type", async () => {
    const name = uniqueName();
    const bytes = new Uint8Array(5 * 1024 * 1024 + 7).map((_, i) => i % 251);
    const v = await h.kiln.datasets.put(name, bytes, { mediaType: "application/x-test" });
    expect(v).toMatchObject({ kind: "file", mediaType: "application/x-test", byteSize: bytes.length });
    const back = (await h.kiln.datasets.get(name)) as Uint8Array;
    expect(back.length).toBe(bytes.length);
    expect(Buffer.from(back).equals(Buffer.from(bytes))).toBe(true);
  });

  it("lists with filter and pagination; updates description and labels", async () => {
    const prefix = uniqueName("list");
    for (let i = 0; i < 7; i++) await h.kiln.datasets.put(`${prefix}_${i}`, { x: [i] }, { labels: { team: i % 2 ? "risk" : "ops" } });
    await h.kiln.datasets.put(`${prefix}_doc`, { a: 1 }, { kind: "document" });
    const all = await h.kiln.datasets.list();
    expect(all.map((d) => d.id)).toEqual([...Array.from({ length: 7 }, (_, i) => `${prefix}_${i}`), `${prefix}_doc`]);
    const risk = await h.kiln.datasets.list({ filter: 'labels.team = "risk" AND kind = "table"' });
    expect(risk.map((d) => d.id)).toEqual([`${prefix}_1`, `${prefix}_3`, `${prefix}_5`]);
    const docs = await h.kiln.datasets.list({ filter: 'kind = "document"' });
    expect(docs.map((d) => d.id)).toEqual([`${prefix}_doc`]);

    const seen: string[] = [];
    let token = "";
    const store = createClient(StoreService, h.transport);
    do {
      const page = await store.listDatasets({ parent: "projects/default", pageSize: 3, pageToken: token, filter: 'labels.team = "ops"' });
      expect(page.datasets.length).toBeLessThanOrEqual(3);
      seen.push(...page.datasets.map((d) => d.name.split("/").pop()!));
      token = page.nextPageToken;
    } while (token);
    expect(seen).toEqual([0, 2, 4, 6].map((i) => `${prefix}_${i}`));

    const updated = await h.kiln.datasets.update(`${prefix}_0`, { description: "zero", labels: { team: "ml" } });
    expect(updated).toMatchObject({ description: "zero", labels: { team: "ml" } });
    expect((await h.kiln.datasets.info(`${prefix}_0`)).description).toBe("zero");
  });

  it("lists the datasets of every project under projects/-", async () => {
    const label = uniqueName();
    const other = await Kiln.connect({ transport: h.transport, project: "other", writeMode: "stream" });
    await h.kiln.datasets.put("mine", [{ a: 1 }], { labels: { sweep: label } });
    await other.datasets.put("theirs", [{ a: 1 }], { labels: { sweep: label } });
    await other.datasets.put("unlabelled", [{ a: 1 }]);
    const store = createClient(StoreService, h.transport);
    const all = await store.listDatasets({ parent: "projects/-", filter: `labels.sweep = "${label}"` });
    expect(all.datasets.map((d) => d.name)).toEqual(["projects/default/datasets/mine", "projects/other/datasets/theirs"]);
    const one = await store.listDatasets({ parent: "projects/other", filter: `labels.sweep = "${label}"` });
    expect(one.datasets.map((d) => d.name)).toEqual(["projects/other/datasets/theirs"]);
  });

  it("drop deletes for real and the name can be used again; unused chunks go after a grace period", async () => {
    let clock = Date.now();
    const kiln = await h.kilnAt(() => new Date(clock));
    const name = uniqueName();
    const shared = uniqueName();
    await kiln.datasets.put(name, { x: [1, 2] });
    await kiln.datasets.put(shared, { x: [1, 2] }); // same bytes: one shared blob
    await kiln.datasets.put(name, { x: [3] });
    const chunks = (await h.deps.metadata.collection<{ chunks: { sha256: string }[] }>("store_versions").list({ prefix: `projects/default/datasets/${name}/` })).flatMap(
      (r) => r.value.chunks.map((c) => c.sha256),
    );
    const unique = [...new Set(chunks)];
    expect(unique).toHaveLength(2);
    expect(await kiln.datasets.drop(name)).toBe(true);
    await expect(kiln.datasets.info(name)).rejects.toMatchObject({ name: "NotFoundError", reason: "DATASET_NOT_FOUND" });
    const again = await kiln.datasets.put(name, { y: ["new"] });
    expect(again.version).toBe(1);
    expect(await kiln.datasets.drop(uniqueName(), { force: true })).toBe(false);

    const alive = async () => (await Promise.all(unique.map((c) => h.deps.blobs.has(c)))).filter(Boolean).length;
    expect(await alive()).toBe(2); // marked, not yet deleted
    clock += 2 * 3600 * 1000;
    await kiln.datasets.put(uniqueName(), { z: [0] }); // any write runs the due sweep
    expect(await alive()).toBe(1); // the chunk the other dataset shares survives
    expect(rowsOf(await kiln.datasets.get(shared))).toEqual([{ x: 1 }, { x: 2 }]);
  });

  it("a chunk marked as garbage but written again before the sweep is kept", async () => {
    let clock = Date.now();
    const kiln = await h.kilnAt(() => new Date(clock));
    const dropped = uniqueName();
    await kiln.datasets.put(dropped, { v: [42] });
    const [sha] = (await h.deps.metadata.collection<{ chunks: { sha256: string }[] }>("store_versions").list({ prefix: `projects/default/datasets/${dropped}/` }))[0].value.chunks.map((c) => c.sha256);
    await kiln.datasets.drop(dropped);
    const reused = uniqueName();
    await kiln.datasets.put(reused, { v: [42] }); // the same bytes: the same blob
    clock += 2 * 3600 * 1000;
    await kiln.datasets.put(uniqueName(), { z: [0] });
    expect(await h.deps.blobs.has(sha)).toBe(true);
    expect(rowsOf(await kiln.datasets.get(reused))).toEqual([{ v: 42 }]);
  });

  it("publishes created, version_created and deleted events", async () => {
    const name = uniqueName();
    await h.kiln.datasets.put(name, { x: [1] });
    await h.kiln.datasets.drop(name);
    const events = await takeEvents(h.bus, 3);
    expect(events.map((e) => e.subject)).toEqual([
      "kiln.store.v1.dataset.created",
      "kiln.store.v1.dataset.version_created",
      "kiln.store.v1.dataset.deleted",
    ]);
    const created = fromBinary(DatasetEventSchema, events[1].data);
    expect(created.dataset).toBe(`projects/default/datasets/${name}`);
    expect(created.version?.version).toBe(1n);
  });

  it("10 concurrent appends make 10 versions and lose no rows", async () => {
    const name = uniqueName();
    await Promise.all(Array.from({ length: 10 }, (_, i) => h.kiln.datasets.put(name, { w: [i, i + 100] })));
    const versions = await h.kiln.datasets.versions(name);
    expect(versions.map((v) => v.version)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    const values = rowsOf(await h.kiln.datasets.get(name)).map((r) => r.w as number);
    expect(values.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => [i, i + 100]).flat().sort((a, b) => a - b));
  });

  it("resumable uploads write the same versions as streams", async () => {
    const name = uniqueName();
    await h.kilnResumable.datasets.put(name, [{ a: 1 }, { a: 2 }]);
    await h.kilnResumable.datasets.put(name, [{ a: 3 }]);
    expect(rowsOf(await h.kiln.datasets.get(name))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    const doc = uniqueName();
    await h.kilnResumable.datasets.put(doc, { deep: { list: [1, 2, 3] } });
    expect(await h.kiln.datasets.get(doc)).toEqual({ deep: { list: [1, 2, 3] } });
  });
});
