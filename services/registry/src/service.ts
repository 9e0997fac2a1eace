import type { JsonObject } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { CALLER, checkId, decodePageToken, decodePositionToken, encodePageToken, encodePositionToken, invalidArgument, notFound, pageSize, parseParent, versionPrefix } from "@kiln/core";
import { RegistryService } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { parseRequestFilter, scanPage } from "@kiln/storage";
import { deleteAttachment, findAttachment, uploadAttachment } from "./attachments.js";
import type { RegistryDeps } from "./deps.js";
import { fileParts } from "./download.js";
import { matchesModelFilter } from "./list-filter.js";
import { checkMetadata } from "./metadata-check.js";
import { deleteModelVersion } from "./delete-version.js";
import { releaseHolds, setHolds, withHolders } from "./holds.js";
import { createModel, deleteModel } from "./models.js";
import { checkTag, modelName, parseModelName, parseVersionName } from "./names.js";
import { lineageFromProto, modelToProto, versionToProto, type ModelRecord, type VersionRecord } from "./records.js";
import { asUpload } from "./receive.js";
import { moveTags, removeTag } from "./tags.js";
import { uploadModelVersion } from "./upload.js";
import { collections, getModel, latestVersion, resolveVersion, updateModel, updateVersion } from "./versions.js";

/** Cross-model logs sort every version of a project by time; beyond this, ask per model. */
const MAX_LOG_VERSIONS = 10_000;

export function createRegistryService(deps: RegistryDeps): ServiceImpl<typeof RegistryService> {
  const now = deps.now ?? (() => new Date());
  const { models, versions } = collections(deps);
  const shown = (v: VersionRecord, m: ModelRecord) => versionToProto(v, m.tags);

  return {
    async createModel(req) {
      const project = parseParent(req.parent).slice("projects/".length);
      const name = modelName(project, checkId(req.modelId, "model")).name;
      return { model: modelToProto(await createModel(deps, name, req.description, req.labels, now())) };
    },

    async getModel(req) {
      const { record } = await getModel(deps, parseModelName(req.name).name);
      const latest = await latestVersion(versions, record.name);
      return { model: modelToProto(record), latest: latest && (await withHolders(deps, [shown(latest, record)]))[0] };
    },

    async listModels(req) {
      const parent = parseParent(req.parent);
      const filter = req.filter ? parseRequestFilter(req.filter) : undefined;
      const { items, nextPageToken } = await scanPage(models, {
        prefix: `${parent}/models/`,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        filterText: req.filter,
        matches: filter && ((m) => matchesModelFilter(filter, m)),
      });
      return { models: items.map(modelToProto), nextPageToken };
    },

    async updateModel(req) {
      if (!req.model) throw invalidArgument("MISSING_MODEL", "update needs a model");
      const paths = req.updateMask?.paths.length ? req.updateMask.paths : ["description", "labels"];
      const unknown = paths.filter((p) => p !== "description" && p !== "labels");
      if (unknown.length) throw invalidArgument("INVALID_UPDATE_MASK", `cannot update ${unknown.join(", ")}; updatable: description, labels`);
      const given = req.model;
      const updated = await updateModel(deps, parseModelName(given.name).name, (m) => ({
        ...m,
        description: paths.includes("description") ? given.description : m.description,
        labels: paths.includes("labels") ? { ...given.labels } : m.labels,
        updateTime: now().toISOString(),
      }));
      return { model: modelToProto(updated) };
    },

    async deleteModel(req) {
      const name = parseModelName(req.name).name;
      if (!(await deleteModel(deps, name, now()))) throw notFound("MODEL_NOT_FOUND", `model ${name} not found`, { model: name });
      return {};
    },

    async deleteModelVersion(req) {
      const { model, ref } = parseVersionName(req.name);
      if (ref.kind !== "number") throw invalidArgument("VERSION_NUMBER_REQUIRED", `a version is deleted by its number, not by ${ref.kind === "tag" ? `the tag "${ref.tag}"` : '"latest"'}: a tag moved meanwhile would delete another version`);
      return { model: modelToProto(await deleteModelVersion(deps, model.name, ref.version, now())) };
    },

    async setModelVersionHolds(req) {
      return { missingVersions: await setHolds(deps, req.holds, now()) };
    },

    async releaseModelVersionHolds(req) {
      return { released: await releaseHolds(deps, req.holderCollection, req.keep, req.setBefore) };
    },

    async uploadModelVersion(requests, ctx) {
      const record = await uploadModelVersion(deps, requests, ctx.values.get(CALLER));
      return { version: versionToProto(record, record.tags) };
    },

    async putModelVersion(req, ctx) {
      const record = await uploadModelVersion(deps, asUpload(req.header, req.pieces, "a model version"), ctx.values.get(CALLER));
      return { version: versionToProto(record, record.tags) };
    },

    async getModelVersion(req) {
      const { model, ref } = parseVersionName(req.name);
      const found = await resolveVersion(deps, model.name, ref);
      return { version: (await withHolders(deps, [shown(found.version, found.model)]))[0] };
    },

    async listModelVersions(req) {
      if (/^projects\/[^/]*\/models\/-$/.test(req.parent)) return listAcrossModels(req.parent.slice(0, -"/models/-".length), req.pageSize, req.pageToken);
      const { record } = await getModel(deps, parseModelName(req.parent).name);
      const size = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, "");
      const rows = await versions.list({ prefix: versionPrefix(record.name), reverse: true, after, limit: size + 1 });
      const page = rows.slice(0, size);
      return {
        versions: await withHolders(deps, page.map((r) => shown(r.value, record))),
        nextPageToken: rows.length > size ? encodePageToken(page[page.length - 1].key, "") : "",
      };
    },

    async updateModelVersion(req) {
      const { model, ref } = parseVersionName(req.name);
      const paths = req.updateMask?.paths ?? [];
      if (paths.length === 0) throw invalidArgument("INVALID_UPDATE_MASK", "say what to update: metadata, metadata.KEY, comment or lineage");
      const bad = paths.filter((p) => !["metadata", "comment", "lineage"].includes(p) && !p.startsWith("metadata."));
      if (bad.length) throw invalidArgument("INVALID_UPDATE_MASK", `cannot update ${bad.join(", ")}; updatable: metadata, metadata.KEY, comment, lineage`);
      const given = req.metadata ?? {};
      const updated = await updateVersion(deps, model.name, ref, (v) => {
        let metadata: JsonObject = paths.includes("metadata") ? { ...given } : { ...v.metadata };
        for (const p of paths.filter((p) => p.startsWith("metadata."))) {
          const key = p.slice("metadata.".length);
          if (key in given) metadata[key] = given[key];
          else delete metadata[key];
        }
        metadata = checkMetadata(metadata, deps.limits.maxMetadataBytes);
        return {
          ...v,
          metadata,
          comment: paths.includes("comment") ? req.comment : v.comment,
          lineage: paths.includes("lineage") ? lineageFromProto(req.lineage) : v.lineage,
          updateTime: now().toISOString(),
        };
      });
      return { version: shown(updated.version, updated.model) };
    },

    async *downloadModelVersion(req) {
      const { model, ref } = parseVersionName(req.name);
      const found = await resolveVersion(deps, model.name, ref);
      yield { message: { case: "header", value: shown(found.version, found.model) } };
      for await (const part of fileParts(deps, found.version.file, req.byReference)) yield { message: part };
    },

    async setTag(req) {
      const { model, ref } = parseVersionName(req.name);
      const tag = checkTag(req.tag);
      const found = await resolveVersion(deps, model.name, ref);
      const previous = found.model.tags[tag] ?? 0;
      const updated = await moveTags(deps, model.name, [tag], found.version.version);
      return { model: modelToProto(updated), previousVersion: BigInt(previous) };
    },

    async deleteTag(req) {
      const name = parseModelName(req.model).name;
      return { model: modelToProto(await removeTag(deps, name, checkTag(req.tag))) };
    },

    async uploadAttachment(requests) {
      const { model, version } = await uploadAttachment(deps, requests);
      return { version: shown(version, model) };
    },

    async putAttachment(req) {
      const { model, version } = await uploadAttachment(deps, asUpload(req.header, req.pieces, "an attachment"));
      return { version: shown(version, model) };
    },

    async *downloadAttachment(req) {
      const { model, ref } = parseVersionName(req.version);
      const found = await resolveVersion(deps, model.name, ref);
      const attachment = findAttachment(found.version, req.name);
      const proto = shown({ ...found.version, attachments: [attachment] }, found.model).attachments[0];
      yield { message: { case: "header", value: proto } };
      for await (const part of fileParts(deps, attachment, req.byReference)) yield { message: part };
    },

    async deleteAttachment(req) {
      const { model, version } = await deleteAttachment(deps, req.version, req.name);
      return { version: shown(version, model) };
    },
  };

  /** `models/-`: every version of the project, newest first (pages by position). */
  async function listAcrossModels(parent: string, requestedSize: number, token: string) {
    parseParent(parent);
    const size = pageSize(requestedSize);
    const start = decodePositionToken(token, "-");
    const all = await versions.list({ prefix: `${parent}/models/`, limit: MAX_LOG_VERSIONS });
    const modelsByName = new Map((await models.list({ prefix: `${parent}/models/` })).map((m) => [m.key, m.value]));
    const sorted = all.map((r) => r.value).sort((a, b) => b.createTime.localeCompare(a.createTime) || b.version - a.version);
    const page = sorted.slice(start, start + size);
    return {
      versions: await withHolders(deps, page.map((v) => versionToProto(v, modelsByName.get(v.model)?.tags ?? {}))),
      nextPageToken: start + size < sorted.length ? encodePositionToken(start + size, "-") : "",
    };
  }
}
