import { Code } from "@connectrpc/connect";
import { InvalidArgumentError } from "./errors.js";
import { resourceName } from "./names.js";

/** Rows of a stored table: `"sales"`, `"sales@3"` for version 3, or a spec with columns and a filter. */
export type DatasetRef = string | DatasetSpec;

export interface DatasetSpec {
  dataset: string;
  /** Default: the latest version. */
  version?: number;
  columns?: string[];
  filter?: string;
}

export function isDatasetSpec(v: unknown): v is DatasetSpec {
  return typeof v === "object" && v !== null && typeof (v as { dataset?: unknown }).dataset === "string" && Object.keys(v).every((k) => ["dataset", "version", "columns", "filter"].includes(k));
}

/** A ref as the API's selection (full dataset name, version 0 for the latest). */
export function datasetSelection(project: string, ref: DatasetRef): { name: string; version: bigint; columns: string[]; filter: string } {
  const spec: DatasetSpec = typeof ref === "string" ? parseDatasetRef(ref) : ref;
  const version = spec.version ?? 0;
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new InvalidArgumentError(`a dataset version is a whole number ≥ 1 (0 or none: the latest), not ${String(spec.version)}`, Code.InvalidArgument, "INVALID_VERSION", { dataset: spec.dataset });
  }
  return { name: resourceName(project, "datasets", spec.dataset), version: BigInt(version), columns: spec.columns ?? [], filter: spec.filter ?? "" };
}

/** "sales" or "sales@3" as a spec; InvalidArgumentError INVALID_VERSION when what follows @ is not a number. */
export function parseDatasetRef(ref: string): DatasetSpec {
  const at = ref.lastIndexOf("@");
  if (at <= 0) return { dataset: ref };
  const version = ref.slice(at + 1);
  if (!/^\d+$/.test(version)) {
    throw new InvalidArgumentError(`"${ref}": a version after @ is a number (sales@3)`, Code.InvalidArgument, "INVALID_VERSION", { dataset: ref.slice(0, at) });
  }
  return { dataset: ref.slice(0, at), version: Number(version) };
}
