import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { FieldSchema } from "@kiln/proto/kiln/common/v1/table_pb";
import type { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";
import {
  DatasetSchema,
  DatasetVersionSchema,
  type Dataset,
  type DatasetKind,
  type DatasetVersion,
  type WriteMode,
} from "@kiln/proto/kiln/store/v1/store_pb";

/** What the store keeps in its metadata collections (plain JSON). */
export interface DatasetRecord {
  name: string;
  kind: DatasetKind;
  description: string;
  labels: Record<string, string>;
  createTime: string;
  updateTime: string;
  latestVersion: number;
}

export interface ChunkRef {
  sha256: string;
  size: number;
  rows: number;
}

export interface FieldRecord {
  name: string;
  type: string;
  nullable: boolean;
}

export interface VersionRecord {
  dataset: string;
  version: number;
  kind: DatasetKind;
  mode: WriteMode;
  /** TABLE: Arrow IPC schema, base64. */
  arrowSchema?: string;
  fields?: FieldRecord[];
  dtype?: ElementType;
  rowShape?: number[];
  mediaType?: string;
  rowCount: number;
  byteSize: number;
  sha256: string;
  chunks: ChunkRef[];
  createTime: string;
  comment: string;
  /** Absent where the writer was not known (no token checks, or versions from before them). */
  author?: string;
}

export function newDatasetRecord(name: string, kind: DatasetKind, description: string, labels: Record<string, string>, at: Date): DatasetRecord {
  const time = at.toISOString();
  return { name, kind, description, labels: { ...labels }, createTime: time, updateTime: time, latestVersion: 0 };
}

export const DATASETS = "store_datasets";
export const VERSIONS = "store_versions";
export const UPLOADS = "store_uploads";
export const GARBAGE = "store_garbage";

export function versionToProto(r: VersionRecord): DatasetVersion {
  return create(DatasetVersionSchema, {
    name: `${r.dataset}/versions/${r.version}`,
    version: BigInt(r.version),
    kind: r.kind,
    mode: r.mode,
    arrowSchema: r.arrowSchema ? Buffer.from(r.arrowSchema, "base64") : new Uint8Array(),
    fields: (r.fields ?? []).map((f) => create(FieldSchema, f)),
    dtype: r.dtype ?? 0,
    shape: r.rowShape ? [BigInt(r.rowCount), ...r.rowShape.map(BigInt)] : [],
    mediaType: r.mediaType ?? "",
    rowCount: BigInt(r.rowCount),
    byteSize: BigInt(r.byteSize),
    sha256: r.sha256,
    chunkCount: r.chunks.length,
    createTime: timestampFromDate(new Date(r.createTime)),
    comment: r.comment,
    author: r.author ?? "",
  });
}

export function datasetToProto(r: DatasetRecord, latest?: VersionRecord): Dataset {
  return create(DatasetSchema, {
    name: r.name,
    kind: r.kind,
    description: r.description,
    labels: r.labels,
    latestVersion: BigInt(r.latestVersion),
    createTime: timestampFromDate(new Date(r.createTime)),
    updateTime: timestampFromDate(new Date(r.updateTime)),
    latest: latest ? versionToProto(latest) : undefined,
  });
}
