import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ResourceRefSchema } from "@kiln/proto/kiln/common/v1/resource_pb";
import {
  AttachmentSchema,
  LineageSchema,
  ModelSchema,
  ModelVersionSchema,
  OnnxInfoSchema,
  SignatureSchema,
  type Lineage,
  type Model,
  type ModelVersion,
} from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { OnnxSummary, OnnxValueInfo } from "@kiln/onnx";

export const MODELS = "registry_models";
export const VERSIONS = "registry_versions";
export const GARBAGE = "registry_garbage";

/** What the registry keeps in its metadata collections (plain JSON). */
export interface ModelRecord {
  name: string;
  description: string;
  labels: Record<string, string>;
  createTime: string;
  updateTime: string;
  latestVersion: number;
  /** The highest number a version of it ever had, set when a version is deleted: numbers are not given twice. */
  lastNumber?: number;
  /** Tag → version. */
  tags: Record<string, number>;
}

export interface BlobChunk {
  sha256: string;
  size: number;
}

/** A stored file: its chunks (≤ 4 MiB each) and the digest of all its bytes. */
export interface StoredFile {
  chunks: BlobChunk[];
  size: number;
  sha256: string;
}

export interface AttachmentRecord extends StoredFile {
  name: string;
  mediaType: string;
  createTime: string;
}

export interface LineageRecord {
  sourceDatasets: { name: string; version: number }[];
  trainingJob: string;
  run: string;
  parentVersion: string;
}

export interface VersionRecord {
  model: string;
  version: number;
  format: string;
  runnable: boolean;
  comment: string;
  author: string;
  createTime: string;
  updateTime: string;
  fileName: string;
  mediaType: string;
  file: StoredFile;
  metadata: JsonObject;
  onnx?: OnnxSummary;
  lineage: LineageRecord;
  attachments: AttachmentRecord[];
}

export function newModelRecord(name: string, description: string, labels: Record<string, string>, at: Date): ModelRecord {
  const time = at.toISOString();
  return { name, description, labels: { ...labels }, createTime: time, updateTime: time, latestVersion: 0, tags: {} };
}

export function lineageFromProto(l: Lineage | undefined): LineageRecord {
  return {
    sourceDatasets: (l?.sourceDatasets ?? []).map((d) => ({ name: d.name, version: Number(d.version) })),
    trainingJob: l?.trainingJob ?? "",
    run: l?.run ?? "",
    parentVersion: l?.parentVersion ?? "",
  };
}

/** Every blob a version holds: the model file's chunks and its attachments'. */
export function blobsOf(v: VersionRecord): string[] {
  return [...v.file.chunks, ...v.attachments.flatMap((a) => a.chunks)].map((c) => c.sha256);
}

export function modelToProto(r: ModelRecord): Model {
  return create(ModelSchema, {
    name: r.name,
    description: r.description,
    labels: r.labels,
    createTime: timestampFromDate(new Date(r.createTime)),
    updateTime: timestampFromDate(new Date(r.updateTime)),
    latestVersion: BigInt(r.latestVersion),
    tags: Object.fromEntries(Object.entries(r.tags).map(([t, v]) => [t, BigInt(v)])),
  });
}

/** `tags` comes from the model record, which owns them. */
export function versionToProto(r: VersionRecord, tags: Record<string, number> = {}): ModelVersion {
  return create(ModelVersionSchema, {
    name: `${r.model}/versions/${r.version}`,
    version: BigInt(r.version),
    format: r.format,
    runnable: r.runnable,
    comment: r.comment,
    author: r.author,
    createTime: timestampFromDate(new Date(r.createTime)),
    updateTime: timestampFromDate(new Date(r.updateTime)),
    fileName: r.fileName,
    mediaType: r.mediaType,
    size: BigInt(r.file.size),
    sha256: r.file.sha256,
    metadata: r.metadata,
    tags: Object.entries(tags)
      .filter(([, v]) => v === r.version)
      .map(([t]) => t)
      .sort(),
    onnx: r.onnx ? onnxInfoToProto(r.onnx) : undefined,
    signature: r.onnx ? create(SignatureSchema, { inputs: r.onnx.inputs.map(valueInfoToProto), outputs: r.onnx.outputs.map(valueInfoToProto) }) : undefined,
    lineage: create(LineageSchema, {
      sourceDatasets: r.lineage.sourceDatasets.map((d) => create(ResourceRefSchema, { name: d.name, version: BigInt(d.version) })),
      trainingJob: r.lineage.trainingJob,
      run: r.lineage.run,
      parentVersion: r.lineage.parentVersion,
    }),
    attachments: r.attachments.map((a) =>
      create(AttachmentSchema, {
        name: a.name,
        mediaType: a.mediaType,
        size: BigInt(a.size),
        sha256: a.sha256,
        createTime: timestampFromDate(new Date(a.createTime)),
      }),
    ),
  });
}

function onnxInfoToProto(s: OnnxSummary) {
  return create(OnnxInfoSchema, {
    irVersion: BigInt(s.irVersion),
    opsets: s.opsets.map((o) => ({ domain: o.domain, version: BigInt(o.version) })),
    producerName: s.producerName,
    producerVersion: s.producerVersion,
    domain: s.domain,
    modelVersion: BigInt(s.modelVersion),
    docString: s.docString,
    metadata: s.metadata,
  });
}

function valueInfoToProto(v: OnnxValueInfo) {
  const tensor = v.kind === "tensor" ? v : undefined;
  return {
    name: v.name,
    kind: v.kind,
    elementType: tensor?.elementType ?? "",
    rankKnown: tensor ? tensor.shape !== null : false,
    shape: (tensor?.shape ?? []).map((d) =>
      typeof d === "number" ? { value: { case: "size" as const, value: BigInt(d) } } : typeof d === "string" ? { value: { case: "symbol" as const, value: d } } : { value: { case: undefined } },
    ),
    type: v.type,
  };
}
