import { REGISTRY_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import type { Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AttachmentHeaderSchema, FilePieceSchema, ModelVersion, RegistryService, UploadHeaderSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { counted } from "./byte-sources.js";
import { call } from "./errors.js";
import { putInOrder, type ChunkFetcher } from "./chunk-fetch.js";
import type { OpenedSource } from "./model-sources.js";
import { thenCommit, type ProgressListener } from "./transfer.js";

type Registry = Client<typeof RegistryService>;

/** Where the registry takes chunks uploaded with HTTP PUT. */

/** How files go up: one client stream (header, then chunks), or, where requests cannot stream (browsers), one message. */
export interface UploadRoute {
  streaming: boolean;
  fetcher?: ChunkFetcher;
}

/** A new version: the header, then the file's chunks. The version exists once it returns. */
export async function uploadModelVersion(
  registry: Registry,
  header: MessageInitShape<typeof UploadHeaderSchema>,
  source: OpenedSource,
  route: UploadRoute,
  onProgress?: ProgressListener,
): Promise<ModelVersion> {
  if (!route.streaming) return (await call(async () => registry.putModelVersion({ header, pieces: await allPieces(source, onProgress, route.fetcher) }))).version!;
  return (await call(() => registry.uploadModelVersion(headerThenChunks(header, source, onProgress, route.fetcher)))).version!;
}

/** Adds (or replaces) a named file on a version; returns the version as it is now. */
export async function uploadAttachment(
  registry: Registry,
  header: MessageInitShape<typeof AttachmentHeaderSchema>,
  source: OpenedSource,
  route: UploadRoute,
  onProgress?: ProgressListener,
): Promise<ModelVersion> {
  if (!route.streaming) return (await call(async () => registry.putAttachment({ header, pieces: await allPieces(source, onProgress, route.fetcher) }))).version!;
  return (await call(() => registry.uploadAttachment(headerThenChunks(header, source, onProgress, route.fetcher)))).version!;
}

/**
 * The whole file for one message, what a browser can send: its chunks PUT beforehand and
 * referenced when there is a chunk route, else inline (within the server's message limit).
 */
async function allPieces(source: OpenedSource, onProgress?: ProgressListener, fetcher?: ChunkFetcher): Promise<MessageInitShape<typeof FilePieceSchema>[]> {
  const chunks = counted(source.chunks, onProgress, source.size);
  const pieces: MessageInitShape<typeof FilePieceSchema>[] = [];
  if (fetcher) for await (const reference of putInOrder(fetcher, REGISTRY_CHUNK_PATH_PREFIX, chunks, source.recycle)) pieces.push({ piece: { case: "reference", value: reference } });
  else for await (const chunk of chunks) pieces.push({ piece: { case: "chunk", value: chunk } });
  return pieces;
}

/** With a chunk transport the file's chunks go by PUT (four at a time) and the stream carries references. */
async function* headerThenChunks<H>(header: H, source: OpenedSource, onProgress?: ProgressListener, fetcher?: ChunkFetcher) {
  yield { message: { case: "header" as const, value: { ...header, endsWithCommit: true } } };
  const chunks = counted(source.chunks, onProgress, source.size);
  yield* thenCommit(
    (async function* () {
      if (fetcher) for await (const reference of putInOrder(fetcher, REGISTRY_CHUNK_PATH_PREFIX, chunks, source.recycle)) yield { message: { case: "reference" as const, value: reference } };
      else for await (const chunk of chunks) yield { message: { case: "chunk" as const, value: chunk } };
    })(),
  );
}
