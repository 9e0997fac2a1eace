import { STORE_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { StoreService, WriteHeaderSchema, type DatasetVersion, type WriteHeader } from "@kiln/proto/kiln/store/v1/store_pb";
import { call, toApiError } from "./errors.js";
import { putInOrder, type ChunkFetcher } from "./chunk-fetch.js";

export interface Progress {
  /** Bytes sent or received so far. */
  bytes: number;
  /** Total, when known up front. */
  totalBytes?: number;
}

export type ProgressListener = (p: Progress) => void;

const RETRYABLE = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Unknown, Code.Internal]);
const MAX_RETRIES = 8;

/** Where writes go: the store client, how writes travel, and the chunk transport if there is one. */
export interface WriteTarget {
  store: Client<typeof StoreService>;
  mode: "stream" | "resumable";
  fetcher?: ChunkFetcher;
}

/** Where the store takes chunks uploaded with HTTP PUT. */

/**
 * Sends one write: a header and its chunks, as one stream or as a resumable upload. With
 * a chunk transport, a streamed write PUTs the chunks (four at a time) and the stream
 * carries only their references.
 */
export async function sendWrite(
  { store, mode, fetcher }: WriteTarget,
  header: Omit<WriteHeader, "$typeName" | "endsWithCommit">,
  chunks: AsyncIterable<Uint8Array>,
  onProgress?: ProgressListener,
  totalBytes?: number,
): Promise<DatasetVersion> {
  const head = create(WriteHeaderSchema, header);
  let bytes = 0;
  const counted = async function* () {
    for await (const c of chunks) {
      yield c;
      bytes += c.length;
      onProgress?.({ bytes, totalBytes });
    }
  };
  if (mode === "stream") {
    const pieces = async function* () {
      if (fetcher) for await (const reference of putInOrder(fetcher, STORE_CHUNK_PATH_PREFIX, counted())) yield { message: { case: "reference" as const, value: reference } };
      else for await (const data of counted()) yield { message: { case: "chunk" as const, value: { data } } };
    };
    const res = await call(() =>
      store.writeDataset(
        (async function* () {
          yield { message: { case: "header" as const, value: { ...head, endsWithCommit: true } } };
          yield* thenCommit(pieces());
        })(),
      ),
    );
    return res.version!;
  }
  const { uploadId } = await call(() => store.beginUpload({ header: head }));
  let offset = 0n;
  for await (const data of counted()) offset = await appendWithRetry(store, uploadId, offset, data);
  const res = await call(() => store.commitUpload({ uploadId, size: offset }));
  return res.version!;
}

/**
 * A write stream's pieces, then the commit that makes them count (its header sets
 * endsWithCommit). Should the pieces fail, no commit goes: the server stores nothing,
 * even though the HTTP/2 stream may reach it as a normal end.
 */
export async function* thenCommit<M>(pieces: AsyncIterable<M>): AsyncGenerator<M | { message: { case: "commit"; value: { pieces: bigint } } }> {
  let count = 0n;
  for await (const piece of pieces) {
    count++;
    yield piece;
  }
  yield { message: { case: "commit" as const, value: { pieces: count } } };
}

/** Appends at offset; after a failure, asks the server where it stands and resends only if needed. */
async function appendWithRetry(store: Client<typeof StoreService>, uploadId: string, offset: bigint, data: Uint8Array): Promise<bigint> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await store.appendUpload({ uploadId, offset, chunk: { data } })).nextOffset;
    } catch (e) {
      const code = e instanceof ConnectError ? e.code : Code.Unknown;
      if (!RETRYABLE.has(code) || attempt >= MAX_RETRIES) throw toApiError(e);
      await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
      const state = await store.getUpload({ uploadId }).catch(() => undefined);
      if (state && state.nextOffset === offset + BigInt(data.length)) return state.nextOffset; // it did land
    }
  }
}
