import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";
import { DatasetKind, WriteMode, type Dataset, type DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";
import { shortName } from "./names.js";

/** Plain-JS views of store resources: numbers instead of bigints, Dates, kind names. */
export interface DatasetInfo {
  name: string;
  id: string;
  kind: string;
  description: string;
  labels: Record<string, string>;
  latestVersion: number;
  createTime?: Date;
  updateTime?: Date;
  latest?: VersionInfo;
}

export interface VersionInfo {
  name: string;
  version: number;
  kind: string;
  mode: string;
  fields: { name: string; type: string; nullable: boolean }[];
  dtype?: string;
  shape: number[];
  mediaType: string;
  rowCount: number;
  byteSize: number;
  sha256: string;
  chunkCount: number;
  createTime?: Date;
  comment: string;
  /** Who wrote it (its token's subject, or the job's creator for a job's results); "" without token checks. */
  author: string;
}

export const kindName = (k: DatasetKind) => (DatasetKind[k] ?? "UNSPECIFIED").toLowerCase();

export function datasetInfo(d: Dataset): DatasetInfo {
  return {
    name: d.name,
    id: shortName(d.name),
    kind: kindName(d.kind),
    description: d.description,
    labels: { ...d.labels },
    latestVersion: Number(d.latestVersion),
    createTime: d.createTime && timestampDate(d.createTime),
    updateTime: d.updateTime && timestampDate(d.updateTime),
    latest: d.latest && versionInfo(d.latest),
  };
}

export function versionInfo(v: DatasetVersion): VersionInfo {
  return {
    name: v.name,
    version: Number(v.version),
    kind: kindName(v.kind),
    mode: (WriteMode[v.mode] ?? "UNSPECIFIED").toLowerCase(),
    fields: v.fields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable })),
    dtype: v.dtype ? ElementType[v.dtype].toLowerCase() : undefined,
    shape: v.shape.map(Number),
    mediaType: v.mediaType,
    rowCount: Number(v.rowCount),
    byteSize: Number(v.byteSize),
    sha256: v.sha256,
    chunkCount: v.chunkCount,
    createTime: v.createTime && timestampDate(v.createTime),
    comment: v.comment,
    author: v.author,
  };
}
