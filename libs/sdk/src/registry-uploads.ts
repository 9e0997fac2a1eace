import type { Client } from "@connectrpc/connect";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AttachmentHeaderSchema, ModelVersion, RegistryService, UploadHeaderSchema } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { counted } from "./byte-sources.js";
import { call } from "./errors.js";
import type { OpenedSource } from "./model-sources.js";
import type { ProgressListener } from "./transfer.js";

type Registry = Client<typeof RegistryService>;

/** One client stream: the header, then the file's chunks. The version exists once it returns. */
export async function uploadModelVersion(
  registry: Registry,
  header: MessageInitShape<typeof UploadHeaderSchema>,
  source: OpenedSource,
  onProgress?: ProgressListener,
): Promise<ModelVersion> {
  return (await call(() => registry.uploadModelVersion(headerThenChunks(header, source, onProgress)))).version!;
}

/** Adds (or replaces) a named file on a version; returns the version as it is now. */
export async function uploadAttachment(
  registry: Registry,
  header: MessageInitShape<typeof AttachmentHeaderSchema>,
  source: OpenedSource,
  onProgress?: ProgressListener,
): Promise<ModelVersion> {
  return (await call(() => registry.uploadAttachment(headerThenChunks(header, source, onProgress)))).version!;
}

async function* headerThenChunks<H>(header: H, source: OpenedSource, onProgress?: ProgressListener) {
  yield { message: { case: "header" as const, value: header } };
  for await (const chunk of counted(source.chunks, onProgress, source.size)) yield { message: { case: "chunk" as const, value: chunk } };
}
