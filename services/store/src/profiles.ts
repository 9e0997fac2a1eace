import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { invalidArgument, isKilnError } from "@kiln/core";
import { compareProfiles, schemaFromIpc, TableProfiler, thresholdProblem, type TableProfileData } from "@kiln/data";
import {
  ColumnDriftSchema,
  ColumnKind,
  CompareDatasetsResponseSchema,
  DatasetKind,
  DatasetProfileSchema,
  type CompareDatasetsRequest,
  type CompareDatasetsResponse,
  type DatasetProfile,
  type DatasetSelection,
} from "@kiln/proto/kiln/store/v1/store_pb";
import type { StoreDeps } from "./deps.js";
import { parseDatasetName } from "./names.js";
import { prepareRead } from "./reader.js";
import type { VersionRecord } from "./records.js";

export const PROFILES = "dataset_profiles";
/** Bumped when a profile's contents change, so profiles kept from before are computed anew. */
const PROFILE_FORMAT = 1;
const MAX_KEPT_CHARS = 4 * 1024 * 1024;

interface ProfileRecord {
  selection: { name: string; version: number; columns: string[]; filter: string };
  profile: TableProfileData;
  createTime: string;
}

const KINDS = { numeric: ColumnKind.NUMERIC, categorical: ColumnKind.CATEGORICAL, other: ColumnKind.OTHER } as const;

/** Profiles of table selections (kept per version, as versions never change) and drift reports between two. */
export function createProfiles(deps: StoreDeps, getVersion: (dataset: string, version: number) => Promise<VersionRecord>) {
  const kept = deps.metadata.collection<ProfileRecord>(PROFILES);
  const now = deps.now ?? (() => new Date());

  async function profileOf(selection: DatasetSelection | undefined, what: string): Promise<ProfileRecord> {
    if (!selection) throw invalidArgument(`MISSING_${what.toUpperCase()}`, `the request needs a ${what}: a dataset name, and optionally a version, columns and a filter`);
    const dataset = parseDatasetName(selection.name).name;
    const record = await getVersion(dataset, Number(selection.version));
    if (record.kind !== DatasetKind.TABLE) throw invalidArgument("NOT_A_TABLE", `profiles are of tables; ${dataset} is a ${DatasetKind[record.kind]}`, { dataset });
    const key = `${dataset}/${record.version}/${createHash("sha256").update(JSON.stringify([PROFILE_FORMAT, record.sha256, selection.columns, selection.filter])).digest("hex")}`;
    // A kept profile's selection was checked when it was made.
    const found = await kept.get(key);
    if (found) return found.value;
    const read = prepareRead(deps, record, { columns: selection.columns, filter: selection.filter, offset: 0, limit: 0 });
    const profiler = new TableProfiler(schemaFromIpc(Buffer.from(read.header.arrowSchema ?? "", "base64")));
    for await (const batches of read.batches!()) for (const batch of batches) profiler.add(batch);
    const made: ProfileRecord = {
      selection: { name: dataset, version: record.version, columns: [...selection.columns], filter: selection.filter },
      profile: profiler.finish(),
      createTime: now().toISOString(),
    };
    // A profile of very many long values is computed each time rather than kept (a MongoDB document holds 16 MB).
    if (JSON.stringify(made).length > MAX_KEPT_CHARS) return made;
    try {
      await kept.create(key, made);
    } catch (e) {
      // Another call profiled it meanwhile: the same profile, computed twice.
      if (!isKilnError(e, Code.AlreadyExists)) throw e;
    }
    return made;
  }

  return {
    async profile(selection: DatasetSelection | undefined): Promise<DatasetProfile> {
      return profileToProto(await profileOf(selection, "selection"));
    },

    async compare(req: CompareDatasetsRequest): Promise<CompareDatasetsResponse> {
      checkThresholds(req);
      const [baseline, target] = await Promise.all([profileOf(req.baseline, "baseline"), profileOf(req.target, "target")]);
      const report = compareProfiles(baseline.profile, target.profile, { psiThreshold: req.psiThreshold, pValueThreshold: req.pValueThreshold });
      return create(CompareDatasetsResponseSchema, {
        baseline: profileToProto(baseline),
        target: profileToProto(target),
        columns: report.columns.map((c) => create(ColumnDriftSchema, { ...c, kind: KINDS[c.kind] })),
        missingColumns: report.missingColumns,
        newColumns: report.newColumns,
        driftedCount: report.driftedCount,
        drifted: report.drifted,
      });
    },

    /** A dropped dataset's profiles go with it. */
    forget: (dataset: string) => kept.deletePrefix(`${dataset}/`),
  };
}

function checkThresholds(req: CompareDatasetsRequest): void {
  const problem = thresholdProblem(req);
  if (problem) throw invalidArgument("INVALID_THRESHOLD", problem);
}

function profileToProto(record: ProfileRecord): DatasetProfile {
  const { profile, selection } = record;
  return create(DatasetProfileSchema, {
    selection: { name: selection.name, version: BigInt(selection.version), columns: selection.columns, filter: selection.filter },
    rows: BigInt(profile.rows),
    createTime: timestampFromDate(new Date(record.createTime)),
    columns: profile.columns.map((c) => ({
      ...c,
      kind: KINDS[c.kind],
      count: BigInt(c.count),
      nulls: BigInt(c.nulls),
      sampled: BigInt(c.sampled),
      distinct: BigInt(c.distinct),
      values: c.values.map((v) => ({ value: v.value, count: BigInt(v.count) })),
    })),
  });
}
