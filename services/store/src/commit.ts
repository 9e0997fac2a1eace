import { aborted, alreadyExists, failedPrecondition, isKilnError, notFound, resourceExhausted, versionKey, versionPrefix } from "@kiln/core";
import { Code } from "@connectrpc/connect";
import { schemaFromIpc, schemasEqual } from "@kiln/data";
import { DatasetKind, WriteMode } from "@kiln/proto/kiln/store/v1/store_pb";
import type { Collection } from "@kiln/storage";
import { contentDigest, type FinishedWrite } from "./accumulator.js";
import { compactChunks } from "./compaction.js";
import type { StoreDeps } from "./deps.js";
import { publishDatasetEvent } from "./events.js";
import { storeGarbage } from "./garbage.js";
import { DATASETS, VERSIONS, newDatasetRecord, type DatasetRecord, type VersionRecord } from "./records.js";
import type { WriteSpec } from "./write-spec.js";

const MAX_ATTEMPTS = 200;

/**
 * Makes a finished write visible as the next version. Version numbers come from
 * create-if-absent on the version key: of two writers racing for n, one wins and the
 * other rebuilds on top of n (so concurrent appends lose no rows) and tries n+1. Small
 * chunks are merged on the way (compactChunks); what the write or its merges stored and
 * the version does not hold is marked as garbage, committed or not.
 */
export async function commitWrite(deps: StoreDeps, spec: WriteSpec, write: FinishedWrite): Promise<VersionRecord> {
  const merged: string[] = [];
  let version: VersionRecord | undefined;
  try {
    version = await commitVersion(deps, spec, write, merged);
    return version;
  } finally {
    // The caller marks a failed write's own chunks; merges are this function's to mark.
    const held = new Set(version?.chunks.map((c) => c.sha256));
    const unheld = [...(version ? write.chunks.map((c) => c.sha256) : []), ...merged].filter((sha256) => !held.has(sha256));
    // The version is committed whatever happens here: a lost mark leaves a blob behind, never an error for a write that took.
    if (unheld.length) await storeGarbage(deps).mark(unheld).catch((err: unknown) => deps.logger.warn({ err, dataset: spec.name }, "could not mark merged chunks as garbage"));
  }
}

async function commitVersion(deps: StoreDeps, spec: WriteSpec, write: FinishedWrite, merged: string[]): Promise<VersionRecord> {
  const datasets = deps.metadata.collection<DatasetRecord>(DATASETS);
  const versions = deps.metadata.collection<VersionRecord>(VERSIONS);
  const now = deps.now ?? (() => new Date());

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const dataset = await getOrCreateDataset(deps, datasets, spec, now());
    if (dataset.kind !== spec.kind) {
      throw failedPrecondition(
        "KIND_MISMATCH",
        `dataset ${spec.name} holds ${DatasetKind[dataset.kind]}, the write sends ${DatasetKind[spec.kind]}`,
      );
    }
    const previous = await latestVersion(versions, spec.name);
    if (spec.mode === WriteMode.CREATE && previous) {
      throw alreadyExists("DATASET_EXISTS", `dataset ${spec.name} already exists (mode create)`);
    }
    const appending = previous !== undefined && (spec.mode === WriteMode.APPEND || spec.mode === WriteMode.UNSPECIFIED);
    if (appending) checkAppendable(previous, spec, write);
    const { chunks, written } = await compactChunks(deps, spec.kind, appending ? previous.chunks : [], write.chunks);
    merged.push(...written);
    const byteSize = chunks.reduce((a, c) => a + c.size, 0);
    if (byteSize > deps.limits.maxDatasetBytes) {
      throw resourceExhausted("DATASET_TOO_LARGE", `dataset ${spec.name} would hold ${byteSize} bytes, over the limit of ${deps.limits.maxDatasetBytes}`);
    }
    const record: VersionRecord = {
      dataset: spec.name,
      version: (previous?.version ?? 0) + 1,
      kind: spec.kind,
      // What the write did: an upsert (no mode) records whether it created the dataset or appended to it.
      mode: spec.mode === WriteMode.UNSPECIFIED ? (previous ? WriteMode.APPEND : WriteMode.CREATE) : spec.mode,
      arrowSchema: write.arrowSchema ?? previous?.arrowSchema,
      fields: write.fields ?? previous?.fields,
      dtype: spec.kind === DatasetKind.TENSOR ? spec.dtype : undefined,
      rowShape: spec.kind === DatasetKind.TENSOR ? spec.rowShape : undefined,
      mediaType: spec.kind === DatasetKind.FILE ? spec.mediaType : undefined,
      rowCount: spec.kind === DatasetKind.FILE ? 1 : (appending ? previous.rowCount : 0) + write.rowCount,
      byteSize,
      sha256: contentDigest(chunks),
      chunks,
      createTime: now().toISOString(),
      comment: spec.comment,
      ...(spec.author && { author: spec.author }),
    };
    try {
      await versions.create(versionKey(spec.name, record.version), record);
    } catch (e) {
      if (isKilnError(e, Code.AlreadyExists)) continue;
      throw e;
    }
    await raiseLatest(datasets, spec.name, record.version, now());
    await publishDatasetEvent(deps.bus, "version_created", dataset, now(), record);
    return record;
  }
  throw aborted("WRITE_CONTENTION", `too many concurrent writes to ${spec.name}; try again`);
}

async function getOrCreateDataset(
  deps: StoreDeps,
  datasets: Collection<DatasetRecord>,
  spec: WriteSpec,
  at: Date,
): Promise<DatasetRecord> {
  const existing = await datasets.get(spec.name);
  if (existing) return existing.value;
  if (spec.mode === WriteMode.APPEND) throw notFound("DATASET_NOT_FOUND", `dataset ${spec.name} not found (mode append)`);
  const record = newDatasetRecord(spec.name, spec.kind, spec.description, spec.labels, at);
  try {
    await datasets.create(spec.name, record);
  } catch (e) {
    if (isKilnError(e, Code.AlreadyExists)) return (await datasets.get(spec.name))?.value ?? record;
    throw e;
  }
  await publishDatasetEvent(deps.bus, "created", record, at);
  return record;
}

function checkAppendable(previous: VersionRecord, spec: WriteSpec, write: FinishedWrite): void {
  if (spec.kind === DatasetKind.TABLE && previous.arrowSchema && write.arrowSchema && !sameSchema(previous.arrowSchema, write.arrowSchema)) {
    const was = (previous.fields ?? []).map((f) => `${f.name}: ${f.type}`).join(", ");
    const now = (write.fields ?? []).map((f) => `${f.name}: ${f.type}`).join(", ");
    throw failedPrecondition("SCHEMA_MISMATCH", `cannot append (${now}) to ${spec.name}, which has (${was}); use mode replace`);
  }
  if (spec.kind === DatasetKind.TENSOR && (previous.dtype !== spec.dtype || String(previous.rowShape) !== String(spec.rowShape))) {
    throw failedPrecondition("SHAPE_MISMATCH", `cannot append rows of shape [${spec.rowShape}] to ${spec.name}, whose rows have shape [${previous.rowShape}]; use mode replace`);
  }
}

function sameSchema(a: string, b: string): boolean {
  return a === b || schemasEqual(schemaFromIpc(Buffer.from(a, "base64")), schemaFromIpc(Buffer.from(b, "base64")));
}

export async function latestVersion(versions: Collection<VersionRecord>, dataset: string): Promise<VersionRecord | undefined> {
  const [last] = await versions.list({ prefix: versionPrefix(dataset), reverse: true, limit: 1 });
  return last?.value;
}

/** latestVersion only ever moves up, whatever order racing commits finish in. */
async function raiseLatest(datasets: Collection<DatasetRecord>, name: string, version: number, at: Date): Promise<void> {
  for (;;) {
    const current = await datasets.get(name);
    if (!current || current.value.latestVersion >= version) return;
    try {
      await datasets.update(name, { ...current.value, latestVersion: version, updateTime: at.toISOString() }, current.rev);
      return;
    } catch (e) {
      if (!isKilnError(e, Code.Aborted)) throw e;
    }
  }
}
