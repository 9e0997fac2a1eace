import { createHash } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import { JobKind, type Job, type JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ModelVersion } from "@kiln/proto/kiln/registry/v1/registry_pb";
import type { DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";
import { versionNumber } from "./names.js";
import type { Lookups } from "./submit.js";

/** Bumped when what goes into a fingerprint changes, so older ones stop matching. */
const FORMAT = 1;

/**
 * The fingerprint of a job whose model and inputs are pinned (see Job.fingerprint): equal
 * for jobs that do the same work, whatever their inputs' names. Inputs count by content
 * (a dataset version's digest over its chunks, and its schema), so data uploaded again,
 * or local data sent again, is the same input. Undefined for NOOP and for a job with a
 * reference still to pin.
 */
export async function fingerprintOf(job: Job, lookups: Lookups): Promise<string | undefined> {
  if (job.kind === JobKind.NOOP || versionNumber(job.model) === undefined) return undefined;
  if (!job.x?.version || (job.y && !job.y.version)) return undefined;
  const [model, x, y] = await Promise.all([
    lookups.model(job.model),
    lookups.datasetVersion(versionName(job.x)),
    job.y ? lookups.datasetVersion(versionName(job.y)) : undefined,
  ]);
  const work = {
    format: FORMAT,
    kind: JobKind[job.kind],
    model: modelPart(model),
    x: inputPart(job.x, x),
    y: job.y && y ? inputPart(job.y, y) : null,
    params: job.params ?? {},
    keep: job.keepColumns,
    output: job.outputDataset,
  };
  return createHash("sha256").update(canonicalJson(work)).digest("hex");
}

function versionName(input: JobInput): string {
  return `${input.dataset}/versions/${input.version}`;
}

/** What a model version runs or trains with: its file, its attachments (a Kiln model's state) and its metadata (features, classes…). */
function modelPart(v: ModelVersion): JsonValue {
  return {
    version: v.name,
    sha256: v.sha256,
    attachments: v.attachments.map((a) => `${a.name}:${a.sha256}`).sort(),
    metadata: v.metadata ?? {},
  };
}

function inputPart(input: JobInput, v: DatasetVersion): JsonValue {
  return {
    sha256: v.sha256,
    schema: createHash("sha256").update(v.arrowSchema).digest("hex"),
    kind: v.kind,
    dtype: v.dtype,
    shape: v.shape.map(String),
    rows: String(v.rowCount),
    columns: input.columns,
    filter: input.filter,
  };
}

/** JSON with every object's keys sorted, so equal values give equal text. */
export function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k]!)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
