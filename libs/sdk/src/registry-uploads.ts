import type { Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AttachmentHeaderSchema, ModelVersion, RegistryService, UploadHeaderSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { counted } from "./byte-sources.js";
import { call } from "./errors.js";
import { putInOrder, type ChunkFetcher } from "./chunk-fetch.js";
import type { OpenedSource } from "./model-sources.js";
import type { ProgressListener } from "./transfer.js";

type Registry = Client<typeof RegistryService>;

/** Where the registry takes chunks uploaded with HTTP PUT. */
const REGISTRY_CHUNKS = "/kiln/registry/v1/chunks/";

/** One client stream: the header, then the file's chunks. The version exists once it returns. */
export async function uploadModelVersion(
  registry: Registry,
  header: MessageInitShape<typeof UploadHeaderSchema>,
  source: OpenedSource,
  onProgress?: ProgressListener,
  fetcher?: ChunkFetcher,
): Promise<ModelVersion> {
  return (await call(() => registry.uploadModelVersion(headerThenChunks(header, source, onProgress, fetcher)))).version!;
}

/** Adds (or replaces) a named file on a version; returns the version as it is now. */
export async function uploadAttachment(
  registry: Registry,
  header: MessageInitShape<typeof AttachmentHeaderSchema>,
  source: OpenedSource,
  onProgress?: ProgressListener,
  fetcher?: ChunkFetcher,
): Promise<ModelVersion> {
  return (await call(() => registry.uploadAttachment(headerThenChunks(header, source, onProgress, fetcher)))).version!;
}

/** With a chunk transport the file's chunks go by PUT (four at a time) and the stream carries references. */
async function* headerThenChunks<H>(header: H, source: OpenedSource, onProgress?: ProgressListener, fetcher?: ChunkFetcher) {
  yield { message: { case: "header" as const, value: header } };
  const chunks = counted(source.chunks, onProgress, source.size);
  if (fetcher) for await (const reference of putInOrder(fetcher, REGISTRY_CHUNKS, chunks, source.recycle)) yield { message: { case: "reference" as const, value: reference } };
  else for await (const chunk of chunks) yield { message: { case: "chunk" as const, value: chunk } };
}
