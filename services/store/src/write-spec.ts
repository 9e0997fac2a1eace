import { authorOf, invalidArgument, type TokenClaims } from "@kiln/core";
import { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";
import { DatasetKind, WriteMode, type WriteHeader } from "@kiln/proto/kiln/store/v1/store_pb";
import { parseDatasetName, type DatasetName } from "./names.js";

/** A validated write header, in the store's own terms (plain JSON for resumable uploads). */
export interface WriteSpec {
  name: string;
  kind: DatasetKind;
  mode: WriteMode;
  description: string;
  labels: Record<string, string>;
  arrowSchema?: string;
  dtype: ElementType;
  rowShape: number[];
  mediaType: string;
  comment: string;
  /** Absent in uploads begun before tokens. */
  author?: string;
}

/** `caller`: the claims of the write's token, where tokens are checked. */
export function writeSpecFromHeader(header: WriteHeader | undefined, caller?: TokenClaims): { spec: WriteSpec; dataset: DatasetName } {
  if (!header) throw invalidArgument("MISSING_HEADER", "a write starts with a header");
  const dataset = parseDatasetName(header.name);
  if (header.kind === DatasetKind.UNSPECIFIED || !DatasetKind[header.kind]) {
    throw invalidArgument("INVALID_KIND", "the header needs a kind: TABLE, TENSOR, DOCUMENT or FILE");
  }
  if (!WriteMode[header.mode]) throw invalidArgument("INVALID_MODE", `unknown write mode ${header.mode}`);
  const rowShape = header.rowShape.map(Number);
  if (header.kind === DatasetKind.TENSOR) {
    if (header.dtype === ElementType.UNSPECIFIED || !ElementType[header.dtype]) {
      throw invalidArgument("INVALID_DTYPE", "a tensor write needs a dtype");
    }
    if (rowShape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw invalidArgument("INVALID_SHAPE", "row_shape dimensions must be positive");
    }
  }
  return {
    dataset,
    spec: {
      name: dataset.name,
      kind: header.kind,
      mode: header.mode,
      description: header.description,
      labels: { ...header.labels },
      arrowSchema: header.arrowSchema.length ? Buffer.from(header.arrowSchema).toString("base64") : undefined,
      dtype: header.dtype,
      rowShape,
      mediaType: header.mediaType || (header.kind === DatasetKind.FILE ? "application/octet-stream" : ""),
      comment: header.comment,
      author: authorOf(header.onBehalfOf, caller, "a dataset version"),
    },
  };
}
