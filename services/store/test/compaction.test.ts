import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Table, vectorFromArray } from "apache-arrow";
import { decodeChunk, tableToIpc } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import { compactChunks, SMALL_CHUNK_BYTES } from "../src/compaction.js";
import type { ChunkRef, VersionRecord } from "../src/records.js";
import { startHarness, uniqueName, type Harness } from "./harness.js";

const rowsOf = (t: unknown) => (t as Table).toArray().map((r) => r.toJSON());

describe("store: small chunks merged as versions are committed", () => {
  let h: Harness;
  beforeEach(async () => (h = await startHarness()));
  afterEach(async () => h.close());

  const versionRecords = async (name: string) =>
    (await h.deps.metadata.collection<VersionRecord>("store_versions").list({ prefix: `projects/default/datasets/${name}/` })).map((r) => r.value);

  it("appends of a few rows at a time leave a version a few chunks, each one batch; every version keeps its rows", async () => {
    const name = uniqueName();
    const appends = 200;
    for (let i = 0; i < appends; i++) await h.kiln.datasets.put(name, { id: [2 * i, 2 * i + 1], city: [`c${i}`, null] });
    const latest = (await h.kiln.datasets.info(name)).latest!;
    expect(latest).toMatchObject({ version: appends, rowCount: 2 * appends });
    // A binary counter of 200 appends: one chunk per bit of 200 (11001000) at most.
    expect(latest.chunkCount).toBeLessThanOrEqual(8);
    const rows = rowsOf(await h.kiln.datasets.get(name));
    expect(rows.map((r) => r.id)).toEqual(Array.from({ length: 2 * appends }, (_, i) => i));
    expect(rows.map((r) => r.city)).toEqual(Array.from({ length: appends }, (_, i) => [`c${i}`, null]).flat());

    const records = await versionRecords(name);
    for (const record of records) {
      expect(record.chunks.reduce((n, c) => n + c.rows, 0)).toBe(record.rowCount);
      expect(record.byteSize).toBe(record.chunks.reduce((n, c) => n + c.size, 0));
      expect(record.chunks.length).toBeLessThanOrEqual(8);
    }
    for (const chunk of records.at(-1)!.chunks) expect(decodeChunk(await h.deps.blobs.getBytes(chunk.sha256)).batches).toHaveLength(1);
    // Earlier versions read as they were written.
    for (const version of [1, 2, 3, 77, 128]) {
      const earlier = rowsOf(await h.kiln.datasets.get(name, { version }));
      expect(earlier.map((r) => r.id)).toEqual(Array.from({ length: 2 * version }, (_, i) => i));
    }
    // A filter and a range still read across merged chunks.
    expect(rowsOf(await h.kiln.datasets.get(name, { filter: "id >= 197 AND id < 203" })).map((r) => r.id)).toEqual([197, 198, 199, 200, 201, 202]);
    expect(rowsOf(await h.kiln.datasets.get(name, { offset: 99, limit: 3 })).map((r) => r.id)).toEqual([99, 100, 101]);
  });

  it("a version shares the previous version's chunks but for the merged tail", async () => {
    const name = uniqueName();
    for (let i = 0; i < 6; i++) await h.kiln.datasets.put(name, { x: [i] });
    const [, , , , v5, v6] = (await versionRecords(name)).sort((a, b) => a.version - b.version);
    // Six equal appends: 4 + 2 rows; the fifth was 4 + 1, and the sixth merged its row with the fifth's.
    expect(v5!.chunks.map((c) => c.rows)).toEqual([4, 1]);
    expect(v6!.chunks.map((c) => c.rows)).toEqual([4, 2]);
    expect(v6!.chunks[0]).toEqual(v5!.chunks[0]);
  });

  it("leaves chunks of a megabyte or more as they are", async () => {
    const name = uniqueName();
    const rows = 200_000; // 1.6 MB of float64: one chunk over the bound
    await h.kiln.datasets.put(name, { x: Float64Array.from({ length: rows }, (_, i) => i) });
    const [big] = (await versionRecords(name))[0]!.chunks;
    expect(big!.size).toBeGreaterThanOrEqual(SMALL_CHUNK_BYTES);
    await h.kiln.datasets.put(name, { x: [-1] });
    await h.kiln.datasets.put(name, { x: [-2] });
    const last = (await versionRecords(name)).find((v) => v.version === 3)!;
    expect(last.chunks[0]).toEqual(big);
    expect(last.chunks.slice(1).map((c) => c.rows)).toEqual([2]);
    const back = (await h.kiln.datasets.get(name, { offset: rows - 1 })) as Table;
    expect([...back.getChild("x")!]).toEqual([rows - 1, -1, -2]);
  });

  it("merges tensor rows, and reads row ranges across the merged chunks", async () => {
    const name = uniqueName();
    for (let i = 0; i < 40; i++) await h.kiln.datasets.put(name, { data: new Float32Array([i, i + 0.5]), shape: [1, 2] });
    expect((await h.kiln.datasets.info(name)).latest!.chunkCount).toBeLessThanOrEqual(6);
    const all = (await h.kiln.datasets.get(name)) as { data: Float32Array; shape: number[] };
    expect(all.shape).toEqual([40, 2]);
    expect(Array.from(all.data)).toEqual(Array.from({ length: 40 }, (_, i) => [i, i + 0.5]).flat());
    const slice = (await h.kiln.datasets.get(name, { offset: 30, limit: 3 })) as { data: Float32Array };
    expect(Array.from(slice.data)).toEqual([30, 30.5, 31, 31.5, 32, 32.5]);
  });

  it("merges documents as lines, each read back as it was put", async () => {
    const name = uniqueName();
    const docs = [{ i: 0, text: "a\nb" }, [1, "two"], "three", null, 4.5, { nested: { deep: [true] } }];
    for (const doc of docs) await h.kiln.datasets.put(name, doc);
    const latest = (await h.kiln.datasets.info(name)).latest!;
    expect(latest.rowCount).toBe(docs.length);
    expect(latest.chunkCount).toBeLessThan(docs.length);
    expect(await h.kiln.datasets.get(name)).toEqual(docs);
    expect(await h.kiln.datasets.get(name, { version: 3 })).toEqual(docs.slice(0, 3));
  });

  it("collects a write's chunk merged away after the grace period, and keeps what earlier versions hold", async () => {
    let clock = Date.now();
    const kiln = await h.kilnAt(() => new Date(clock));
    const name = uniqueName();
    await kiln.datasets.put(name, { v: [1] });
    await kiln.datasets.put(name, { v: [2] }); // merged with the first at once
    const [v1, v2] = (await versionRecords(name)).sort((a, b) => a.version - b.version);
    expect(v2!.chunks).toHaveLength(1);
    const held = new Set([...v1!.chunks, ...v2!.chunks].map((c) => c.sha256));
    const marked = (await h.deps.metadata.collection("store_garbage").list()).map((m) => m.key);
    const appended = marked.filter((sha256) => !held.has(sha256)); // the second write's own chunk
    expect(appended).toHaveLength(1);
    expect(await h.deps.blobs.has(appended[0]!)).toBe(true);
    clock += 2 * 3600 * 1000;
    await kiln.datasets.put(uniqueName(), { z: [0] }); // any write runs the due sweep
    expect(await h.deps.blobs.has(appended[0]!)).toBe(false);
    expect(await h.deps.blobs.has(v1!.chunks[0]!.sha256)).toBe(true);
    expect(await h.deps.blobs.has(v2!.chunks[0]!.sha256)).toBe(true);
    expect(rowsOf(await kiln.datasets.get(name, { version: 1 }))).toEqual([{ v: 1 }]);
    expect(rowsOf(await kiln.datasets.get(name))).toEqual([{ v: 1 }, { v: 2 }]);
  });

  it("merges the small chunks of a version from before merging at its next append", async () => {
    const refs: ChunkRef[] = [];
    for (let i = 0; i < 100; i++) {
      const bytes = tableToIpc(new Table({ i: vectorFromArray([i]) }));
      refs.push({ sha256: (await h.deps.blobs.put(bytes)).sha256, size: bytes.length, rows: 1 });
    }
    const { chunks, written } = await compactChunks(h.deps, DatasetKind.TABLE, refs.slice(0, 99), refs.slice(99));
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.rows).toBe(100);
    expect(written).toEqual([chunks[0]!.sha256]); // read and written once, not once a chunk
    const merged = decodeChunk(await h.deps.blobs.getBytes(chunks[0]!.sha256));
    expect([...merged.getChild("i")!]).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });
});
