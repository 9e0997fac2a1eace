import { authorOf, versionKey, type TokenClaims } from "@kiln/core";
import type { UploadHeader } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { RegistryDeps } from "./deps.js";
import { publishRegistryEvent } from "./events.js";
import { checkModelFile, checkTrainableFile } from "./format-check.js";
import { TRAINABLE_FORMAT } from "@kiln/contracts";
import { checkMetadata } from "./metadata-check.js";
import { ensureModel } from "./models.js";
import { checkFormat, checkTag, parseModelName } from "./names.js";
import { receiveFile, splitUpload, type UploadMessage } from "./receive.js";
import { lineageFromProto, versionToProto, type VersionRecord } from "./records.js";
import { moveTags } from "./tags.js";
import { collections, createNextVersion, getModel, updateModel } from "./versions.js";

/** Who made a version where the server checks no tokens. */
export const ANONYMOUS = "anonymous";

/** A header checked up front, so bad input fails before any byte is stored. */
function checkHeader(deps: RegistryDeps, header: UploadHeader, caller: TokenClaims | undefined) {
  const model = parseModelName(header.parent).name;
  const format = checkFormat(header.format || "onnx");
  const tags = [...new Set(header.tags.map(checkTag))];
  const metadata = checkMetadata(header.metadata, deps.limits.maxMetadataBytes);
  return { model, format, tags, metadata, author: authorOf(header.onBehalfOf, caller, "a model version") || ANONYMOUS };
}

/**
 * One upload: header, bytes, format checks, then the version becomes visible at once
 * (with its tags). A stream that ends early or fails a check leaves no version.
 */
export async function uploadModelVersion(deps: RegistryDeps, requests: AsyncIterable<UploadMessage<UploadHeader>>, caller?: TokenClaims): Promise<VersionRecord & { tags: Record<string, number> }> {
  const now = deps.now ?? (() => new Date());
  const { header, pieces } = await splitUpload(requests, "an upload");
  const { model, format, tags, metadata, author } = checkHeader(deps, header, caller);
  if (!header.createModel) await getModel(deps, model); // fail before receiving bytes

  const pending = format === "onnx" ? deps.startOnnxCheck() : undefined;
  const trainable = format === TRAINABLE_FORMAT;
  const received = await receiveFile(deps, pieces, { limit: deps.limits.maxModelBytes, what: "model file", local: pending !== undefined || trainable }).catch((e: unknown) => {
    pending?.cancel();
    throw e;
  });
  try {
    const facts = trainable ? await checkTrainableFile(received.localParts!, received.file.size) : await checkModelFile(pending, received.localParts, deps.spoolDir, received.file.size);
    if (header.createModel) await ensureModel(deps, model, now()); // only once the file is accepted
    const at = now().toISOString();
    const record = await createNextVersion(deps, model, (version) => ({
      model,
      version,
      format,
      runnable: facts.runnable,
      comment: header.comment,
      author,
      createTime: at,
      updateTime: at,
      fileName: header.fileName,
      mediaType: header.mediaType || (format === "onnx" ? "application/onnx" : "application/octet-stream"),
      file: received.file,
      metadata,
      onnx: facts.onnx,
      lineage: lineageFromProto(header.lineage),
      attachments: [],
    }));
    let modelRecord = await updateModel(deps, model, (m) => ({ ...m, latestVersion: Math.max(m.latestVersion, record.version), updateTime: at })).catch(
      async (e: unknown) => {
        // The repository was deleted while this upload ran: its version goes with it.
        await collections(deps).versions.delete(versionKey(model, record.version));
        throw e;
      },
    );
    await publishRegistryEvent(deps.bus, "model_version.created", { model, version: versionToProto(record, modelRecord.tags) }, now());
    if (tags.length) modelRecord = await moveTags(deps, model, tags, record.version);
    return { ...record, tags: modelRecord.tags };
  } catch (e) {
    await received.discard();
    throw e;
  } finally {
    await received.removeSpool();
  }
}
