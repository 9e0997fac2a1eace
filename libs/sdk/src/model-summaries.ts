import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Attachment, Lineage, Model, ModelVersion, OnnxInfo, ValueInfo } from "@kiln/proto/kiln/registry/v1/registry_pb";
import { modelIdOf } from "./model-refs.js";

/** Plain-JS views of registry resources: numbers instead of bigints, Dates, plain JSON metadata. */
export interface ModelInfo {
  name: string;
  id: string;
  description: string;
  labels: Record<string, string>;
  /** 0 while the model has no version. */
  latestVersion: number;
  /** Tag → version number. */
  tags: Record<string, number>;
  createTime?: Date;
  updateTime?: Date;
  latest?: ModelVersionInfo;
}

export interface ModelVersionInfo {
  name: string;
  /** The model's id, e.g. "churn". */
  model: string;
  version: number;
  format: string;
  runnable: boolean;
  comment: string;
  author: string;
  createTime?: Date;
  updateTime?: Date;
  fileName: string;
  mediaType: string;
  size: number;
  sha256: string;
  metadata: JsonObject;
  tags: string[];
  onnx?: OnnxModelInfo;
  signature?: { inputs: TensorSignature[]; outputs: TensorSignature[] };
  lineage?: LineageInfo;
  attachments: AttachmentInfo[];
  /** What uses it and keeps it from being deleted, by full name (a deployment serving it: projects/{p}/deployments/{d}); filled by get and versions. */
  holders: string[];
}

export interface TensorSignature {
  name: string;
  /** "tensor", "sequence", "map", "optional", "sparse_tensor" or "unknown". */
  kind: string;
  /** Tensors: "float32", "int64", "string", ... */
  elementType: string;
  /** One entry per dimension: a size, a symbol such as "N", or null when unnamed; undefined when the rank is unknown. */
  shape?: (number | string | null)[];
  /** e.g. "tensor(float32)[N,3]" */
  type: string;
}

export interface OnnxModelInfo {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  metadata: Record<string, string>;
}

export interface LineageInfo {
  sourceDatasets: { name: string; version: number }[];
  trainingJob: string;
  run: string;
  parentVersion: string;
}

export interface AttachmentInfo {
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  createTime?: Date;
}

export function modelInfo(m: Model, latest?: ModelVersion): ModelInfo {
  return {
    name: m.name,
    id: modelIdOf(m.name),
    description: m.description,
    labels: { ...m.labels },
    latestVersion: Number(m.latestVersion),
    tags: Object.fromEntries(Object.entries(m.tags).map(([tag, v]) => [tag, Number(v)])),
    createTime: date(m.createTime),
    updateTime: date(m.updateTime),
    latest: latest && modelVersionInfo(latest),
  };
}

export function modelVersionInfo(v: ModelVersion): ModelVersionInfo {
  return {
    name: v.name,
    model: modelIdOf(v.name),
    version: Number(v.version),
    format: v.format,
    runnable: v.runnable,
    comment: v.comment,
    author: v.author,
    createTime: date(v.createTime),
    updateTime: date(v.updateTime),
    fileName: v.fileName,
    mediaType: v.mediaType,
    size: Number(v.size),
    sha256: v.sha256,
    metadata: v.metadata ?? {},
    tags: [...v.tags],
    onnx: v.onnx && onnxModelInfo(v.onnx),
    signature: v.signature && { inputs: v.signature.inputs.map(tensorSignature), outputs: v.signature.outputs.map(tensorSignature) },
    lineage: v.lineage && lineageInfo(v.lineage),
    attachments: v.attachments.map(attachmentInfo),
    holders: [...v.holders],
  };
}

export function attachmentInfo(a: Attachment): AttachmentInfo {
  return { name: a.name, mediaType: a.mediaType, size: Number(a.size), sha256: a.sha256, createTime: date(a.createTime) };
}

function tensorSignature(v: ValueInfo): TensorSignature {
  return {
    name: v.name,
    kind: v.kind,
    elementType: v.elementType,
    shape: v.rankKnown || v.shape.length > 0 ? v.shape.map((d) => (d.value.case === "size" ? Number(d.value.value) : (d.value.value ?? null))) : undefined,
    type: v.type,
  };
}

function onnxModelInfo(o: OnnxInfo): OnnxModelInfo {
  return {
    irVersion: Number(o.irVersion),
    opsets: o.opsets.map((s) => ({ domain: s.domain, version: Number(s.version) })),
    producerName: o.producerName,
    producerVersion: o.producerVersion,
    domain: o.domain,
    modelVersion: Number(o.modelVersion),
    docString: o.docString,
    metadata: { ...o.metadata },
  };
}

function lineageInfo(l: Lineage): LineageInfo {
  return {
    sourceDatasets: l.sourceDatasets.map((d) => ({ name: d.name, version: Number(d.version) })),
    trainingJob: l.trainingJob,
    run: l.run,
    parentVersion: l.parentVersion,
  };
}

function date(t: Timestamp | undefined): Date | undefined {
  return t && timestampDate(t);
}
