import { Code } from "@connectrpc/connect";
import type { JsonObject } from "@bufbuild/protobuf";
import { isKilnError } from "@kiln/core";
import type { ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { TrackingDeps } from "./deps.js";
import { artifactContent } from "./artifact-content.js";
import { onnxFileOf, textFile, type ModelSource } from "./mlflow-model-source.js";
import { changeState, fromRegistry, fromRegistryStream } from "./mlflow-registry.js";
import { tarStream, type TarEntry } from "./tar.js";

/** The MLflow model's folder, whole, as the file (or, beside an ONNX file, the attachment) of its version. */
export const MLFLOW_ARCHIVE = "mlflow-model.tar";
export const MLFLOW_FORMAT = "mlflow";
/** Pieces sent to the registry stay well under any message limit. */
const PIECE_BYTES = 1024 * 1024;

export interface NewVersion {
  /** projects/{p}/models/{m} */
  model: string;
  comment: string;
  metadata: JsonObject;
  /** The run that logged it: projects/{p}/experiments/{e}/runs/{n}. */
  run?: string;
  /** The version it is a copy of: projects/{p}/models/{m}/versions/{n}. */
  parentVersion?: string;
  /** Who registers it (the caller's token's subject), "" where tokens are not checked. */
  author: string;
}

/**
 * Stores the source's files as a new version of the model. An MLflow model with an ONNX
 * flavor becomes an ONNX version Kiln serves, its folder attached as a tar; any other is
 * a version of format "mlflow" whose file is the folder as a tar (`tar xf` it, and MLflow
 * loads it). An ONNX file onnxruntime cannot load is kept the second way.
 */
export async function storeModelVersion(deps: TrackingDeps, source: ModelSource, v: NewVersion): Promise<ModelVersion> {
  const mlmodel = await textFile(deps, source.files, "MLmodel");
  const onnxPath = mlmodel === undefined ? undefined : onnxFileOf(mlmodel);
  const onnx = onnxPath === undefined ? undefined : source.files.get(onnxPath);
  if (onnx?.kind === "file") {
    const content = artifactContent(deps, onnx);
    const stored = await upload(deps, v, { format: "onnx", fileName: onnxPath!.slice(onnxPath!.lastIndexOf("/") + 1), mediaType: "" }, content.bytes()).catch((e: unknown) => {
      if (isKilnError(e, Code.InvalidArgument)) return undefined; // not an ONNX model onnxruntime loads: kept as MLflow's
      throw e;
    });
    if (stored) return attachArchive(deps, source, stored);
  }
  return upload(deps, v, { format: MLFLOW_FORMAT, fileName: MLFLOW_ARCHIVE, mediaType: "application/x-tar" }, archive(deps, source));
}

/** Stores `bytes` as the file of a new version of `v.model`. */
export async function upload(deps: TrackingDeps, v: NewVersion, file: { format: string; fileName: string; mediaType: string }, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<ModelVersion> {
  const lineage = { run: v.run ?? "", parentVersion: v.parentVersion ?? "" };
  const header = { parent: v.model, ...file, metadata: v.metadata, comment: v.comment, lineage, onBehalfOf: v.author, endsWithCommit: true };
  const { version } = await fromRegistry(deps.registry.uploadModelVersion(headerThenPieces(header, bytes)));
  return version!;
}

/**
 * A copy of a registered version (MLflow's copy_model_version) as a new version of the
 * model: its file, format and attachments, byte for byte, with `from` as its parent.
 */
export async function copyModelVersion(deps: TrackingDeps, from: ModelVersion, v: NewVersion): Promise<ModelVersion> {
  const chunks = async function* <M extends { message: { case: string | undefined; value?: unknown } }>(stream: AsyncIterable<M>) {
    for await (const m of fromRegistryStream(stream)) if (m.message.case === "chunk") yield m.message.value as Uint8Array;
  };
  const copy = await upload(deps, { ...v, parentVersion: from.name }, { format: from.format, fileName: from.fileName, mediaType: from.mediaType }, chunks(deps.registry.downloadModelVersion({ name: from.name })));
  return attachOrMarkFailed(deps, copy, async (version) => {
    for (const a of from.attachments) {
      const header = { version: version.name, name: a.name, mediaType: a.mediaType, endsWithCommit: true };
      version = (await fromRegistry(deps.registry.uploadAttachment(headerThenPieces(header, chunks(deps.registry.downloadAttachment({ version: from.name, name: a.name })))))).version!;
    }
    return version;
  });
}

/** The folder beside the ONNX file. */
function attachArchive(deps: TrackingDeps, source: ModelSource, version: ModelVersion): Promise<ModelVersion> {
  const header = { version: version.name, name: MLFLOW_ARCHIVE, mediaType: "application/x-tar", endsWithCommit: true };
  return attachOrMarkFailed(deps, version, async () => (await fromRegistry(deps.registry.uploadAttachment(headerThenPieces(header, archive(deps, source))))).version!);
}

/** Attaches files to a version just stored; a version left without them reads FAILED_REGISTRATION to MLflow, with the reason. */
async function attachOrMarkFailed(deps: TrackingDeps, version: ModelVersion, attach: (v: ModelVersion) => Promise<ModelVersion>): Promise<ModelVersion> {
  try {
    return await attach(version);
  } catch (e) {
    const message = `its files could not all be attached: ${e instanceof Error ? e.message : String(e)}`;
    await changeState(deps, version, { status: "FAILED_REGISTRATION", status_message: message });
    throw e;
  }
}

function archive(deps: TrackingDeps, source: ModelSource): AsyncIterable<Uint8Array> {
  const entries: TarEntry[] = [...source.files]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([path, file]) => {
      const content = artifactContent(deps, file);
      return { path, size: content.size, bytes: () => content.bytes() };
    });
  return tarStream(entries, new Date(0));
}

/** An upload's messages: the header, the bytes in pieces of at most PIECE_BYTES, and the commit that counts them. */
async function* headerThenPieces<H>(header: H, bytes: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
  yield { message: { case: "header" as const, value: header } };
  let pieces = 0n;
  for await (const b of bytes) {
    for (let at = 0; at < b.byteLength; at += PIECE_BYTES) {
      pieces++;
      yield { message: { case: "chunk" as const, value: b.subarray(at, Math.min(at + PIECE_BYTES, b.byteLength)) } };
    }
  }
  yield { message: { case: "commit" as const, value: { pieces } } };
}
