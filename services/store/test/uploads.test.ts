import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { tableFromArrays, tableToIPC } from "apache-arrow";
import { errorInterceptor } from "@kiln/core";
import { DatasetKind, StoreService } from "@kiln/proto/kiln/store/v1/store_pb";
import { register } from "../src/index.js";
import { startHarness, uniqueName, type Harness } from "./harness.js";

describe("store: resumable uploads", () => {
  let h: Harness;
  let store: ReturnType<typeof createClient<typeof StoreService>>;
  beforeEach(async () => {
    h = await startHarness();
    store = createClient(
      StoreService,
      createRouterTransport((r) => register(r, h.deps), { router: { interceptors: [errorInterceptor(h.deps.logger)] } }),
    );
  });
  afterEach(async () => h.close());

  const chunk = (from: number) => tableToIPC(tableFromArrays({ n: Int32Array.from({ length: 10 }, (_, i) => from + i) }), "stream");

  it("retrying an append is harmless, a gap is refused, commit checks the size", async () => {
    const name = `projects/default/datasets/${uniqueName()}`;
    const { uploadId } = await store.beginUpload({ header: { name, kind: DatasetKind.TABLE } });
    const a = chunk(0);
    const b = chunk(10);
    const r1 = await store.appendUpload({ uploadId, offset: 0n, chunk: { data: a } });
    expect(r1.nextOffset).toBe(BigInt(a.length));
    // the same append again (the client never saw the answer): no double rows
    expect((await store.appendUpload({ uploadId, offset: 0n, chunk: { data: a } })).nextOffset).toBe(BigInt(a.length));
    // different bytes at an old offset, or a gap: FailedPrecondition with the next offset
    await expect(store.appendUpload({ uploadId, offset: 0n, chunk: { data: b } })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    await expect(store.appendUpload({ uploadId, offset: 999999n, chunk: { data: b } })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const r2 = await store.appendUpload({ uploadId, offset: r1.nextOffset, chunk: { data: b } });
    const state = await store.getUpload({ uploadId });
    expect(state).toMatchObject({ nextOffset: r2.nextOffset, chunkCount: 2 });
    expect(state.header?.name).toBe(name);
    await expect(store.commitUpload({ uploadId, size: 1n })).rejects.toMatchObject({ code: Code.FailedPrecondition });
    const { version } = await store.commitUpload({ uploadId, size: r2.nextOffset });
    expect(version?.rowCount).toBe(20n);
    // committed uploads are gone
    const gone = await store.getUpload({ uploadId }).catch((e) => ConnectError.from(e));
    expect(gone).toMatchObject({ code: Code.NotFound });
  });

  it("an aborted or never-committed upload makes no version", async () => {
    const name = `projects/default/datasets/${uniqueName()}`;
    const { uploadId } = await store.beginUpload({ header: { name, kind: DatasetKind.TABLE } });
    await store.appendUpload({ uploadId, offset: 0n, chunk: { data: chunk(0) } });
    await store.abortUpload({ uploadId });
    await expect(store.getDataset({ name })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(store.appendUpload({ uploadId, offset: 0n, chunk: { data: chunk(0) } })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("a bad chunk is refused and the upload can go on", async () => {
    const name = `projects/default/datasets/${uniqueName()}`;
    const { uploadId } = await store.beginUpload({ header: { name, kind: DatasetKind.TABLE } });
    await expect(store.appendUpload({ uploadId, offset: 0n, chunk: { data: new Uint8Array([9, 9, 9]) } })).rejects.toMatchObject({
      code: Code.InvalidArgument,
    });
    const ok = await store.appendUpload({ uploadId, offset: 0n, chunk: { data: chunk(0) } });
    const { version } = await store.commitUpload({ uploadId, size: ok.nextOffset });
    expect(version?.version).toBe(1n);
  });

  it("abandoned uploads expire after a day and their chunks are removed, unless a version holds them", async () => {
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const deps = { ...h.deps, now: () => new Date(clock) };
    const timed = createClient(StoreService, createRouterTransport((r) => register(r, deps), { router: { interceptors: [errorInterceptor(h.deps.logger)] } }));
    const kept = chunk(100);
    const dropped = chunk(200);
    const name = `projects/default/datasets/${uniqueName()}`;
    // a committed version that holds `kept`
    const done = await timed.beginUpload({ header: { name, kind: DatasetKind.TABLE } });
    const n = await timed.appendUpload({ uploadId: done.uploadId, offset: 0n, chunk: { data: kept } });
    await timed.commitUpload({ uploadId: done.uploadId, size: n.nextOffset });
    // an upload abandoned after sending `kept` and `dropped`
    const { uploadId } = await timed.beginUpload({ header: { name, kind: DatasetKind.TABLE } });
    const a = await timed.appendUpload({ uploadId, offset: 0n, chunk: { data: kept } });
    await timed.appendUpload({ uploadId, offset: a.nextOffset, chunk: { data: dropped } });
    const blobs = (await h.deps.metadata.collection<{ state: { chunks: { sha256: string }[] } }>("store_uploads").get(uploadId))!.value.state.chunks.map((c) => c.sha256);

    clock += 23 * 3600 * 1000;
    expect((await timed.getUpload({ uploadId })).chunkCount).toBe(2); // still alive
    clock += 2 * 3600 * 1000;
    await expect(timed.getUpload({ uploadId })).rejects.toMatchObject({ code: Code.NotFound });
    await timed.beginUpload({ header: { name, kind: DatasetKind.TABLE } }); // removes the upload, marks its chunks
    expect(await h.deps.metadata.collection("store_uploads").get(uploadId)).toBeUndefined();
    expect(await h.deps.blobs.has(blobs[1])).toBe(true); // still in its grace period
    clock += 2 * 3600 * 1000;
    await timed.beginUpload({ header: { name, kind: DatasetKind.TABLE } }); // sweeps what is due
    expect(await h.deps.blobs.has(blobs[0])).toBe(true); // the version still holds it
    expect(await h.deps.blobs.has(blobs[1])).toBe(false);
  });
});
