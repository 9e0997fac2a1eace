import { notFound } from "@kiln/core";
import type { AttachmentHeader } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { RegistryDeps } from "./deps.js";
import { registryGarbage } from "./garbage.js";
import { checkAttachmentName, parseVersionName } from "./names.js";
import { receiveFile, splitUpload, type UploadMessage } from "./receive.js";
import type { AttachmentRecord, ModelRecord, VersionRecord } from "./records.js";
import { resolveVersion, updateVersion } from "./versions.js";

/** Adds a named file to a version (Rorodata's attach), replacing one of the same name. */
export async function uploadAttachment(deps: RegistryDeps, requests: AsyncIterable<UploadMessage<AttachmentHeader>>): Promise<{ model: ModelRecord; version: VersionRecord }> {
  const now = deps.now ?? (() => new Date());
  const { header, pieces } = await splitUpload(requests, "an attachment upload");
  const { model, ref } = parseVersionName(header.version);
  const name = checkAttachmentName(header.name);
  await resolveVersion(deps, model.name, ref); // fail before receiving bytes
  const received = await receiveFile(deps, pieces, { limit: deps.limits.maxModelBytes, what: "attachment" });
  const attachment: AttachmentRecord = {
    name,
    mediaType: header.mediaType || "application/octet-stream",
    createTime: now().toISOString(),
    ...received.file,
  };
  try {
    const updated = await updateVersion(deps, model.name, ref, (v) => ({
      ...v,
      attachments: [...v.attachments.filter((a) => a.name !== name), attachment].sort((a, b) => a.name.localeCompare(b.name)),
      updateTime: attachment.createTime,
    }));
    const replaced = updated.previous.attachments.find((a) => a.name === name);
    if (replaced) await registryGarbage(deps).mark(replaced.chunks.map((c) => c.sha256));
    return updated;
  } catch (e) {
    await received.discard();
    throw e;
  }
}

export async function deleteAttachment(deps: RegistryDeps, versionName: string, name: string): Promise<{ model: ModelRecord; version: VersionRecord }> {
  const { model, ref } = parseVersionName(versionName);
  const updated = await updateVersion(deps, model.name, ref, (v) => {
    if (!v.attachments.some((a) => a.name === name)) throw attachmentNotFound(v, name);
    return { ...v, attachments: v.attachments.filter((a) => a.name !== name), updateTime: (deps.now?.() ?? new Date()).toISOString() };
  });
  const removed = updated.previous.attachments.find((a) => a.name === name)!;
  await registryGarbage(deps).mark(removed.chunks.map((c) => c.sha256));
  return updated;
}

export function findAttachment(version: VersionRecord, name: string): AttachmentRecord {
  const found = version.attachments.find((a) => a.name === name);
  if (!found) throw attachmentNotFound(version, name);
  return found;
}

function attachmentNotFound(version: VersionRecord, name: string) {
  return notFound("ATTACHMENT_NOT_FOUND", `version ${version.version} of ${version.model} has no attachment "${name}"`, {
    model: version.model,
    attachment: name,
  });
}
