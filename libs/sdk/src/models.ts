import type { Client } from "@connectrpc/connect";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import {
  RegistryService,
  type Attachment,
  type DownloadAttachmentResponse,
  type DownloadModelVersionResponse,
  type ModelVersion,
} from "@kiln/proto/kiln/registry/v1/registry_pb";
import { collect } from "./byte-sources.js";
import type { ChunkFetcher } from "./chunk-fetch.js";
import { openDownload, type DownloadReader, type OpenDownload } from "./download-stream.js";
import { call } from "./errors.js";
import { baseName, defaultFileName, guessFormat, mediaTypeOf } from "./model-formats.js";
import { lineageInit, type LineageInput } from "./model-lineage.js";
import { modelIdOf, modelName, versionName } from "./model-refs.js";
import { nodeFiles, openSource, type ModelSource } from "./model-sources.js";
import { modelInfo, modelVersionInfo, type ModelInfo, type ModelVersionInfo } from "./model-summaries.js";
import { allPages, TRAINABLE_FORMAT } from "@kiln/contracts";
import { estimatorPutOptions, isEstimator, untrainedSpec, type TrainedEstimator, type UntrainedEstimator } from "./model-estimators.js";
import { uploadAttachment, uploadModelVersion, type UploadRoute } from "./registry-uploads.js";
import type { Progress, ProgressListener } from "./transfer.js";
import type { DatasetRef } from "./dataset-refs.js";
import type { DriftOptions } from "./drift.js";
import { modelDrift, type ModelDriftDeps, type ModelDriftReport } from "./model-drift.js";

export interface PutModelOptions {
  /** "onnx" (checked, runnable) or any other format stored as is; default from the file name, "onnx" for bare bytes. */
  format?: string;
  metadata?: JsonObject;
  comment?: string;
  /** Tags to point at the new version. */
  tags?: string[];
  /** Files to add to the version once it exists: `{ name: bytes | path }`, or paths named by their base name. */
  attachments?: Record<string, Uint8Array | string> | string[];
  lineage?: LineageInput;
  /** Default: a path's base name. */
  fileName?: string;
  mediaType?: string;
  /** Progress of the model file's upload. */
  onProgress?: ProgressListener;
  /** Create the model if it does not exist (the default); with false, a model that is gone is NotFound. */
  createModel?: boolean;
  /** The version's author when a service stores it for someone (a token of role service only). */
  onBehalfOf?: string;
}

export interface DownloadedModel {
  /** The model file's path. */
  model: string;
  /** Under `dir/attachments/`. */
  attachments: string[];
  version: ModelVersionInfo;
}

/**
 * `kiln.models`: the model registry. Versions are named by refs: "churn" (the latest),
 * "churn:3" (a version) or "churn:prod" (a tag). Uploads are client streams, so they need
 * an HTTP/2 transport (Node); reads work everywhere.
 */
export class Models {
  constructor(
    private readonly registry: Client<typeof RegistryService>,
    private readonly project: string,
    private readonly chunkFetcher?: ChunkFetcher,
    /** Whether requests can stream (not in browsers): uploads then go as one message each. */
    private readonly streaming = true,
    /** What drift needs besides the registry (the Kiln client passes it). */
    private readonly driftDeps?: ModelDriftDeps,
  ) {}

  /**
   * Uploads a new version (creating the model if needed, unless `createModel` is false), then its attachments. If an
   * attachment fails, the version stays, with the attachments sent before it.
   */
  async put(name: string, model: ModelSource | TrainedEstimator, options: PutModelOptions = {}): Promise<ModelVersionInfo> {
    if (isEstimator(model)) return this.put(name, model.toOnnx(), estimatorPutOptions(model, options));
    const parent = modelName(this.project, name);
    const fileName = options.fileName ?? (typeof model === "string" ? baseName(model) : "");
    const format = options.format ?? guessFormat(fileName || undefined);
    const header = {
      parent,
      format,
      metadata: options.metadata,
      comment: options.comment ?? "",
      tags: options.tags ?? [],
      lineage: options.lineage && lineageInit(this.project, options.lineage),
      fileName,
      mediaType: options.mediaType ?? "",
      createModel: options.createModel ?? true,
      onBehalfOf: options.onBehalfOf ?? "",
    };
    let version = await uploadModelVersion(this.registry, header, await openSource(model), this.uploadRoute(), options.onProgress);
    for (const [attachmentName, source] of attachmentEntries(options.attachments)) {
      version = await this.upload(version.name, attachmentName, source);
    }
    return modelVersionInfo(version);
  }

  async get(ref: string): Promise<ModelVersionInfo> {
    const res = await call(() => this.registry.getModelVersion({ name: versionName(this.project, ref) }));
    return modelVersionInfo(res.version!);
  }

  /**
   * Drift of new data from what a version was trained on (omega-ml's ModelDriftMonitor): the
   * stored X its fit read (the version, and the filter, it read), on the features it
   * learned, compared with `data`, which may hold other columns too. NO_TRAINING_DATA
   * (FailedPrecondition) for a version fitted on local data, uploaded or only defined.
   */
  async drift(ref: string, data: DatasetRef, options: DriftOptions = {}): Promise<ModelDriftReport> {
    if (!this.driftDeps) throw new Error("models.drift needs the Kiln client's datasets and runtime");
    return modelDrift(this.driftDeps, await this.get(ref), data, options);
  }

  /** The model, with its latest version when it has one. */
  async info(name: string): Promise<ModelInfo> {
    const res = await call(() => this.registry.getModel({ name: modelName(this.project, name) }));
    return modelInfo(res.model!, res.latest);
  }

  /** Every model of the project matching the filter (all pages), e.g. `labels.team = "risk"`. */
  async list(options: { filter?: string } = {}): Promise<ModelInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.registry.listModels({ parent: `projects/${this.project}`, filter: options.filter ?? "", pageSize: 1000, pageToken }));
      return { items: res.models.map((m) => modelInfo(m)), nextPageToken: res.nextPageToken };
    });
  }

  /**
   * An empty model; `put` creates models by itself, this is for setting description and
   * labels first. With `estimator` (e.g. "logistic_regression" or "LogisticRegression")
   * and `params`, version 1 is that estimator untrained, ready for `kiln.runtime.model(name).fit(...)`.
   */
  async create(
    name: string,
    options: { description?: string; labels?: Record<string, string>; estimator?: string | UntrainedEstimator; params?: Record<string, unknown> } = {},
  ): Promise<ModelInfo> {
    const full = modelName(this.project, name);
    const untrained = options.estimator === undefined ? undefined : untrainedSpec(options.estimator, options.params);
    const res = await call(() =>
      this.registry.createModel({
        parent: full.slice(0, full.indexOf("/models/")),
        modelId: modelIdOf(full),
        description: options.description ?? "",
        labels: options.labels ?? {},
      }),
    );
    if (!untrained) return modelInfo(res.model!);
    const { kind, params, spec } = untrained;
    try {
      await this.put(full, spec, {
        format: TRAINABLE_FORMAT,
        fileName: `${modelIdOf(full)}.kiln-ml.json`,
        mediaType: "application/json",
        comment: `untrained ${kind}`,
        metadata: { estimator: kind, params: params as JsonObject },
      });
    } catch (e) {
      // The registry refused the estimator (an unknown kind or param): the model it was to be goes too.
      await call(() => this.registry.deleteModel({ name: full })).catch(() => {});
      throw e;
    }
    return this.info(full);
  }

  /** Changes the fields given (labels are replaced as a whole). */
  async update(name: string, changes: { description?: string; labels?: Record<string, string> }): Promise<ModelInfo> {
    const paths = (["description", "labels"] as const).filter((k) => changes[k] !== undefined);
    const res = await call(() =>
      this.registry.updateModel({
        model: { name: modelName(this.project, name), description: changes.description ?? "", labels: changes.labels ?? {} },
        updateMask: { paths },
      }),
    );
    return modelInfo(res.model!);
  }

  /** Deletes the model with all its versions and attachments; the name is free again. */
  async drop(name: string): Promise<void> {
    await call(() => this.registry.deleteModel({ name: modelName(this.project, name) }));
  }

  /**
   * Deletes one version (`name:3`, by its number) with its attachments; the tags naming it
   * go, and its number is not given again. An admin's, as drop is.
   */
  async dropVersion(ref: string): Promise<ModelInfo> {
    const res = await call(() => this.registry.deleteModelVersion({ name: versionName(this.project, ref) }));
    return modelInfo(res.model!);
  }

  /** Versions newest first: of one model, or of every model when `name` is omitted (all pages). */
  async log(name?: string): Promise<ModelVersionInfo[]> {
    const parent = name === undefined ? `projects/${this.project}/models/-` : modelName(this.project, name);
    return allPages(async (pageToken) => {
      const res = await call(() => this.registry.listModelVersions({ parent, pageSize: 1000, pageToken }));
      return { items: res.versions.map(modelVersionInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Points `tag` at the version `ref` names; returns the version it named before, 0 if it is new. */
  async tag(ref: string, tag: string): Promise<number> {
    const res = await call(() => this.registry.setTag({ name: versionName(this.project, ref), tag }));
    return Number(res.previousVersion);
  }

  async untag(name: string, tag: string): Promise<ModelInfo> {
    const res = await call(() => this.registry.deleteTag({ model: modelName(this.project, name), tag }));
    return modelInfo(res.model!);
  }

  /**
   * Replaces a version's metadata, or with `merge` sets only the keys given (a key set to
   * undefined is removed).
   */
  async setMetadata(ref: string, metadata: { [key: string]: JsonValue | undefined }, options: { merge?: boolean } = {}): Promise<ModelVersionInfo> {
    const keys = Object.keys(metadata);
    // An empty update mask would mean "every field", so a merge of nothing sends nothing.
    if (options.merge && keys.length === 0) return this.get(ref);
    const defined = Object.fromEntries(Object.entries(metadata).filter(([, v]) => v !== undefined)) as JsonObject;
    const paths = options.merge ? keys.map((k) => `metadata.${k}`) : ["metadata"];
    const res = await call(() => this.registry.updateModelVersion({ name: versionName(this.project, ref), metadata: defined, updateMask: { paths } }));
    return modelVersionInfo(res.version!);
  }

  async setComment(ref: string, comment: string): Promise<ModelVersionInfo> {
    const res = await call(() => this.registry.updateModelVersion({ name: versionName(this.project, ref), comment, updateMask: { paths: ["comment"] } }));
    return modelVersionInfo(res.version!);
  }

  /** Adds a named file to a version, replacing one of the same name. */
  async attach(ref: string, name: string, file: ModelSource, options: { mediaType?: string; onProgress?: ProgressListener } = {}): Promise<ModelVersionInfo> {
    return modelVersionInfo(await this.upload(versionName(this.project, ref), name, file, options));
  }

  async attachment(ref: string, name: string): Promise<Uint8Array> {
    return collect((await this.openAttachment(versionName(this.project, ref), name)).chunks);
  }

  async detach(ref: string, name: string): Promise<ModelVersionInfo> {
    const res = await call(() => this.registry.deleteAttachment({ version: versionName(this.project, ref), name }));
    return modelVersionInfo(res.version!);
  }

  /** The model file's bytes. */
  async bytes(ref: string, options: { onProgress?: ProgressListener } = {}): Promise<Uint8Array> {
    return collect((await this.openModel(ref, options.onProgress)).chunks);
  }

  /**
   * Writes the model file and its attachments (under `dir/attachments/`), streamed to disk
   * and checked against their sha256. Node only.
   */
  async download(ref: string, dir: string, options: { onProgress?: ProgressListener } = {}): Promise<DownloadedModel> {
    const files = await nodeFiles();
    let done = 0;
    let total: number | undefined;
    const report = (p: Progress) => options.onProgress?.({ bytes: done + p.bytes, totalBytes: total });

    const download = await this.openModel(ref, report);
    const version = modelVersionInfo(download.header);
    total = version.size + version.attachments.reduce((sum, a) => sum + a.size, 0);
    const model = await writeOrCancel(download, () => {
      const path = files.pathInside(dir, baseName(version.fileName) || defaultFileName(version.model, version.version, version.format));
      return files.writeVerified(path, download.chunks, version.sha256, this.chunkFetcher && download.allVerified, download.recycle).then(() => path);
    });
    done += version.size;

    const attachments: string[] = [];
    for (const a of version.attachments) {
      // By the numbered name, so a tag moving meanwhile cannot mix two versions' files.
      const attachment = await this.openAttachment(version.name, a.name, report);
      const path = await writeOrCancel(attachment, () => {
        const target = files.pathInside(files.pathInside(dir, "attachments"), a.name);
        return files.writeVerified(target, attachment.chunks, attachment.header.sha256, this.chunkFetcher && attachment.allVerified, attachment.recycle).then(() => target);
      });
      done += a.size;
      attachments.push(path);
    }
    return { model, attachments, version };
  }

  private async upload(version: string, name: string, file: ModelSource, options: { mediaType?: string; onProgress?: ProgressListener } = {}): Promise<ModelVersion> {
    const header = { version, name, mediaType: options.mediaType ?? mediaTypeOf(name) };
    return uploadAttachment(this.registry, header, await openSource(file), this.uploadRoute(), options.onProgress);
  }

  private uploadRoute(): UploadRoute {
    return { streaming: this.streaming, fetcher: this.chunkFetcher };
  }

  private openModel(ref: string, onProgress?: ProgressListener): Promise<OpenDownload<ModelVersion>> {
    const request = { name: versionName(this.project, ref), byReference: this.chunkFetcher !== undefined };
    return openDownload((signal) => this.registry.downloadModelVersion(request, { signal }), modelDownloads, this.chunkFetcher, onProgress);
  }

  private openAttachment(version: string, name: string, onProgress?: ProgressListener): Promise<OpenDownload<Attachment>> {
    const request = { version, name, byReference: this.chunkFetcher !== undefined };
    return openDownload((signal) => this.registry.downloadAttachment(request, { signal }), attachmentDownloads, this.chunkFetcher, onProgress);
  }
}

/** Runs `write`; if it fails, ends the download's call instead of leaving it open. */
async function writeOrCancel<T>(download: OpenDownload<unknown>, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (e) {
    download.cancel();
    throw e;
  }
}

function attachmentEntries(attachments: PutModelOptions["attachments"]): [string, Uint8Array | string][] {
  if (!attachments) return [];
  if (Array.isArray(attachments)) return attachments.map((path) => [baseName(path), path]);
  return Object.entries(attachments);
}

const modelDownloads: DownloadReader<DownloadModelVersionResponse, ModelVersion> = {
  header: (r) => (r.message.case === "header" ? r.message.value : undefined),
  piece: (r) => (r.message.case === "chunk" ? { bytes: r.message.value } : r.message.case === "reference" ? { reference: r.message.value } : undefined),
  totalBytes: (header) => Number(header.size),
};

const attachmentDownloads: DownloadReader<DownloadAttachmentResponse, Attachment> = {
  header: (r) => (r.message.case === "header" ? r.message.value : undefined),
  piece: (r) => (r.message.case === "chunk" ? { bytes: r.message.value } : r.message.case === "reference" ? { reference: r.message.value } : undefined),
  totalBytes: (header) => Number(header.size),
};
