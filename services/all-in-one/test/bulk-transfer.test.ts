import { createHash } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Table, tableFromArrays, tableToIPC } from "apache-arrow";
import type { RunningProcess } from "@kiln/core";
import type { ChunkReference } from "@kiln/proto/kiln/common/v1/chunk_pb";
import { DatasetKind, StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { Kiln } from "@kiln/sdk";
import { runEmbedded } from "../src/index.js";
import { putInTwoParts } from "./helpers.js";

/** ~12 MB: several 4 MiB chunks. */
function bigTable(): Table {
  const n = 300_000;
  return tableFromArrays({
    id: Int32Array.from({ length: n }, (_, i) => i),
    x: Float64Array.from({ length: n }, (_, i) => Math.sin(i)),
    y: Float64Array.from({ length: n }, (_, i) => i / 7),
    z: Float64Array.from({ length: n }, (_, i) => -i),
    w: Float64Array.from({ length: n }, (_, i) => i % 13),
  });
}

describe("bulk transfers move chunks by reference over plain HTTP", () => {
  let dir: string;
  let running: RunningProcess;
  let url: string;
  let kiln: Kiln;
  const store = () => createClient(StoreService, createGrpcTransport({ baseUrl: url }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-bulk-"));
    running = await runEmbedded({ KILN_PORT: "0", KILN_DATA_DIR: dir, KILN_LOG_LEVEL: "silent" }, false);
    url = running.server.url;
    kiln = await Kiln.connect(url);
    await kiln.datasets.put("big", bigTable());
  });
  afterAll(async () => {
    kiln?.close();
    await running?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function references(request: { columns?: string[]; filter?: string }): Promise<{ refs: ChunkReference[]; inline: number }> {
    const refs: ChunkReference[] = [];
    let inline = 0;
    for await (const res of store().readDataset({ name: "projects/default/datasets/big", byReference: true, ...request })) {
      if (res.message.case === "reference") refs.push(res.message.value);
      if (res.message.case === "chunk") inline++;
    }
    return { refs, inline };
  }

  it("a plain read answers with references; a projected or filtered one streams inline", async () => {
    const plain = await references({});
    expect(plain.inline).toBe(0);
    expect(plain.refs.length).toBeGreaterThan(2);
    expect(plain.refs.reduce((a, r) => a + Number(r.rows), 0)).toBe(300_000);
    expect(plain.refs[0].path).toBe(`/kiln/store/v1/chunks/${plain.refs[0].sha256}`);
    const filtered = await references({ filter: "id < 10", columns: ["id"] });
    expect(filtered.refs).toEqual([]);
    expect(filtered.inline).toBe(1);
  });

  it("the SDK reads the same rows back through references, in order", async () => {
    const back = (await kiln.datasets.get("big")) as Table;
    expect(back.numRows).toBe(300_000);
    const ids = back.getChild("id")!.toArray() as Int32Array;
    expect(ids[0]).toBe(0);
    expect(ids[299_999]).toBe(299_999);
    expect(ids.every((v, i) => v === i)).toBe(true);
    expect(back.getChild("y")!.get(700)).toBe(100);
  });

  it("readChunks lends each chunk's memory: released memory takes later chunks, of this read and the next, and every row reads right", async () => {
    const firstRead = new Map<ArrayBufferLike, () => void>();
    let reused = 0;
    let held: { ids: Int32Array; copy: Int32Array } | undefined;
    for (let read = 0; read < 3; read++) {
      let next = 0;
      for await (const { batches, release } of kiln.datasets.readChunks("big")) {
        const memory = batches[0]!.getChild("id")!.data[0]!.values.buffer;
        for (const batch of batches) {
          const ids = batch.getChild("id")!.toArray() as Int32Array;
          const z = batch.getChild("z")!.toArray() as Float64Array;
          for (let i = 0; i < ids.length; i++, next++) if (ids[i] !== next || z[i] !== -next) throw new Error(`row ${next} read back as id ${ids[i]}, z ${z[i]}`);
        }
        if (read === 0) {
          release();
          firstRead.set(memory, release);
        } else if (read === 1 && firstRead.has(memory) && !held) {
          // This chunk sits in memory an earlier chunk released. That earlier chunk's release,
          // called again now, must not hand out the memory this one still holds.
          reused++;
          firstRead.get(memory)!();
          const ids = batches[0]!.getChild("id")!.toArray() as Int32Array;
          held = { ids, copy: ids.slice() };
        } else release();
      }
      expect(next).toBe(300_000);
    }
    // Four chunks are fetched ahead of the caller, so only the second read can land in released memory.
    expect(reused).toBe(1);
    expect(held!.ids.every((id, i) => id === held!.copy[i])).toBe(true); // the third read did not overwrite it
  });

  it("with sharedChunkMemory, reads chunks into shared memory (hashed from a copy: WebCrypto refuses it) and reuses what is released", async () => {
    const shared = await Kiln.connect({ url, sharedChunkMemory: true });
    try {
      const memories = new Set<ArrayBufferLike>();
      for (let read = 0; read < 2; read++) {
        let next = 0;
        for await (const { batches, release } of shared.datasets.readChunks("big")) {
          const memory = batches[0]!.getChild("id")!.data[0]!.values.buffer;
          expect(memory).toBeInstanceOf(SharedArrayBuffer);
          memories.add(memory);
          for (const batch of batches) {
            const ids = batch.getChild("id")!.toArray() as Int32Array;
            const y = batch.getChild("y")!.toArray() as Float64Array;
            for (let i = 0; i < ids.length; i++, next++) if (ids[i] !== next || y[i] !== next / 7) throw new Error(`row ${next} read back as id ${ids[i]}, y ${y[i]}`);
          }
          release();
        }
        expect(next).toBe(300_000);
      }
      const chunks = (await references({})).refs.length;
      expect(memories.size).toBeLessThan(2 * chunks); // the second read landed in memory the first released
    } finally {
      shared.close();
    }
  });

  it("a browser-style client (fetch over HTTP/1.1 beside a Connect transport) reads the same", async () => {
    const web = await Kiln.connect({ transport: createConnectTransport({ baseUrl: url, httpVersion: "1.1" }), url });
    const back = (await web.datasets.get("big", { columns: [] })) as Table;
    expect(back.numRows).toBe(300_000);
    expect(back.getChild("z")!.get(12)).toBe(-12);
  });

  it("GET serves a chunk whose bytes hash to its name; HEAD, bad names and unknown chunks answer plainly", async () => {
    const [ref] = (await references({})).refs;
    const res = await fetch(new URL(ref.path, url));
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(`"${ref.sha256}"`);
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(Number(ref.size));
    expect(createHash("sha256").update(body).digest("hex")).toBe(ref.sha256);
    const head = await fetch(new URL(ref.path, url), { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe(String(ref.size));
    expect((await fetch(new URL("/kiln/store/v1/chunks/not-a-digest", url))).status).toBe(400);
    expect((await fetch(new URL(`/kiln/store/v1/chunks/${"0".repeat(64)}`, url))).status).toBe(404);
    expect((await fetch(new URL(ref.path, url), { method: "POST" })).status).toBe(405);
  });

  it("PUT stores a chunk under its sha256: 201 new, 200 known, 400 mismatch, 413 too large", async () => {
    const bytes = new TextEncoder().encode("a chunk uploaded by PUT");
    const sha = createHash("sha256").update(bytes).digest("hex");
    const put = (name: string, body: Uint8Array) => fetch(new URL(`/kiln/store/v1/chunks/${name}`, url), { method: "PUT", body });
    expect((await put(sha, bytes)).status).toBe(201);
    expect((await put(sha, bytes)).status).toBe(200);
    expect((await put("0".repeat(64), bytes)).status).toBe(400);
    expect((await put("not-a-digest", bytes)).status).toBe(400);
    expect((await put(createHash("sha256").update("x").digest("hex"), new Uint8Array(17 * 1024 * 1024))).status).toBe(413);
    const back = await fetch(new URL(`/kiln/store/v1/chunks/${sha}`, url));
    expect(Buffer.from(await back.arrayBuffer()).toString()).toBe("a chunk uploaded by PUT");
  });

  it("answers a PUT of a chunk it has, or refuses one, only once the body is through (an early answer stalls uploads through a proxy)", async () => {
    const bytes = new TextEncoder().encode("a chunk sent twice, the second time slowly");
    const sha = createHash("sha256").update(bytes).digest("hex");
    expect((await fetch(new URL(`/kiln/store/v1/chunks/${sha}`, url), { method: "PUT", body: bytes })).status).toBe(201);
    expect(await putInTwoParts(url, `/kiln/store/v1/chunks/${sha}`, bytes)).toEqual({ status: 200, answeredEarly: false });
    expect(await putInTwoParts(url, "/kiln/store/v1/chunks/not-a-digest", bytes)).toEqual({ status: 400, answeredEarly: false });
    expect(await putInTwoParts(url, "/kiln/nothing/here", bytes)).toEqual({ status: 404, answeredEarly: false });
  });

  it("a write naming chunks by reference: the chunks must have been PUT and be what they claim", async () => {
    const ipc = tableToIPC(tableFromArrays({ v: Float64Array.from([1, 2, 3]) }), "stream");
    const sha = createHash("sha256").update(ipc).digest("hex");
    const write = (reference: { sha256: string; size: bigint }) =>
      store().writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { name: "projects/default/datasets/by_ref", kind: DatasetKind.TABLE } } };
          yield { message: { case: "reference" as const, value: { ...reference, path: "", rows: 0n } } };
        })(),
      );
    await expect(write({ sha256: sha, size: BigInt(ipc.length) })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    expect((await fetch(new URL(`/kiln/store/v1/chunks/${sha}`, url), { method: "PUT", body: ipc })).status).toBe(201);
    await expect(write({ sha256: sha, size: 1n })).rejects.toMatchObject({ code: Code.InvalidArgument });
    const { version } = await write({ sha256: sha, size: BigInt(ipc.length) });
    expect(version?.rowCount).toBe(3n);
    expect(((await kiln.datasets.get("by_ref")) as Table).getChild("v")!.toArray()).toEqual(Float64Array.from([1, 2, 3]));
  });

  it("a write or an upload whose client fails midway stores nothing, though HTTP/2 carries the client's stop as a normal end of its stream", async () => {
    const failing = async function* <T>(pieces: T[]): AsyncGenerator<T> {
      yield* pieces;
      await new Promise((r) => setTimeout(r, 500)); // the pieces are on their way
      throw new Error("the client's source failed");
    };
    const table = bigTable();
    // More chunks than the SDK PUTs ahead (four), so references reach the server before the failure.
    const batches = [...table.batches, ...table.batches, ...table.batches];
    await expect(kiln.datasets.write("cut-short", failing(batches))).rejects.toThrow("the client's source failed");
    // A write over gRPC without the SDK's flow, one that counts on the commit and ends without it, is refused in words.
    const raw = store().writeDataset(
      (async function* () {
        yield { message: { case: "header" as const, value: { name: "projects/default/datasets/cut-short", kind: DatasetKind.TABLE, endsWithCommit: true } } };
        yield { message: { case: "chunk" as const, value: { data: tableToIPC(tableFromArrays({ x: [1, 2] })) } } };
      })(),
    );
    await expect(raw).rejects.toMatchObject({ code: Code.Aborted, rawMessage: expect.stringContaining("the write of projects/default/datasets/cut-short ended before its commit message") });
    expect((await kiln.datasets.list()).map((d) => d.name)).not.toContain("cut-short");

    const bytes = new Uint8Array(9 * 1024 * 1024).fill(7);
    await expect(kiln.models.put("cut-short", failing([bytes.subarray(0, 5 * 1024 * 1024), bytes.subarray(5 * 1024 * 1024)]), { format: "bin" })).rejects.toThrow("the client's source failed");
    expect((await kiln.models.list()).map((m) => m.name)).not.toContain("cut-short");
    // The same put, whole, stores the model.
    await kiln.models.put("cut-short", bytes, { format: "bin" });
    expect((await kiln.models.log("cut-short")).map((v) => v.size)).toEqual([bytes.length]);
  });

  it("a chunk changed on disk → DataLossError, checked by the reader", async () => {
    await kiln.datasets.put("tampered", new Uint8Array(2000).fill(1), { kind: "file" });
    const [ref] = (await (async () => {
      const out: ChunkReference[] = [];
      for await (const res of store().readDataset({ name: "projects/default/datasets/tampered", byReference: true })) {
        if (res.message.case === "reference") out.push(res.message.value);
      }
      return out;
    })());
    const blob = await findBlob(join(dir, "blobs"), ref.sha256);
    await writeFile(blob, new Uint8Array(2000).fill(2));
    await expect(kiln.datasets.get("tampered")).rejects.toMatchObject({ name: "DataLossError", reason: "BLOB_CORRUPT" });
  });
});

async function findBlob(root: string, sha256: string): Promise<string> {
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.includes(sha256)) return join(entry.parentPath, entry.name);
  }
  throw new Error(`blob ${sha256} not found under ${root}`);
}
