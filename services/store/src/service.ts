import type { ServiceImpl } from "@connectrpc/connect";
import { Code } from "@connectrpc/connect";
import {
  alreadyExists,
  checkId,
  decodePageToken,
  encodePageToken,
  invalidArgument,
  isKilnError,
  notFound,
  pageSize,
  ALL_PROJECTS,
  parseParent,
  versionKey,
  versionPrefix,
  untilCommit,
  wantsJsonRows,
  CALLER,
} from "@kiln/core";
import {
  DatasetKind,
  StoreService,
  type WriteDatasetRequest,
} from "@kiln/proto/kiln/store/v1/store_pb";
import { decodeChunk, jsonRowPieces } from "@kiln/data";
import { ChunkAccumulator } from "./accumulator.js";
import { commitWrite, latestVersion } from "./commit.js";
import type { StoreDeps } from "./deps.js";
import { publishDatasetEvent } from "./events.js";
import { matchesDatasetFilter } from "./list-filter.js";
import { datasetName, parseDatasetName, parseVersionName } from "./names.js";
import { CHUNK_PATH_PREFIX, prepareRead } from "./reader.js";
import { parseRequestFilter, scanPage } from "@kiln/storage";
import { DATASETS, VERSIONS, datasetToProto, newDatasetRecord, versionToProto, type DatasetRecord, type VersionRecord } from "./records.js";
import { createUploads } from "./uploads.js";
import { writeSpecFromHeader } from "./write-spec.js";
import { storeGarbage } from "./garbage.js";
import { createProfiles } from "./profiles.js";

export function createStoreService(deps: StoreDeps): ServiceImpl<typeof StoreService> {
  const datasets = deps.metadata.collection<DatasetRecord>(DATASETS);
  const versions = deps.metadata.collection<VersionRecord>(VERSIONS);
  const now = deps.now ?? (() => new Date());
  const uploads = createUploads(deps);

  async function getDataset(name: string): Promise<{ record: DatasetRecord; rev: number }> {
    const parsed = parseDatasetName(name);
    const found = await datasets.get(parsed.name);
    if (!found) throw notFound("DATASET_NOT_FOUND", `dataset ${parsed.name} not found`, { dataset: parsed.name });
    return { record: found.value, rev: found.rev };
  }

  async function getVersion(dataset: string, version: number): Promise<VersionRecord> {
    await getDataset(dataset);
    const record = version === 0 ? await latestVersion(versions, dataset) : (await versions.get(versionKey(dataset, version)))?.value;
    if (!record) {
      throw notFound(
        "VERSION_NOT_FOUND",
        version === 0 ? `dataset ${dataset} has no version yet` : `dataset ${dataset} has no version ${version}`,
        { dataset, version: String(version) },
      );
    }
    return record;
  }

  const profiles = createProfiles(deps, getVersion);

  return {
    async createDataset(req) {
      const parent = parseParent(req.parent);
      const name = datasetName(parent.slice("projects/".length), checkId(req.datasetId, "dataset")).name;
      if (req.kind === DatasetKind.UNSPECIFIED || !DatasetKind[req.kind]) {
        throw invalidArgument("INVALID_KIND", "a dataset needs a kind: TABLE, TENSOR, DOCUMENT or FILE");
      }
      const record = newDatasetRecord(name, req.kind, req.description, req.labels, now());
      try {
        await datasets.create(name, record);
      } catch (e) {
        if (isKilnError(e, Code.AlreadyExists)) throw alreadyExists("DATASET_EXISTS", `dataset ${name} already exists`, { dataset: name });
        throw e;
      }
      await publishDatasetEvent(deps.bus, "created", record, now());
      return { dataset: datasetToProto(record) };
    },

    async getDataset(req) {
      const { record } = await getDataset(req.name);
      return { dataset: datasetToProto(record, await latestVersion(versions, record.name)) };
    },

    async listDatasets(req) {
      // Dataset records are keyed by name alone, so every project's are those under "projects/".
      const prefix = req.parent === ALL_PROJECTS ? "projects/" : `${parseParent(req.parent)}/datasets/`;
      const filter = req.filter ? parseRequestFilter(req.filter) : undefined;
      const { items: page, nextPageToken } = await scanPage(datasets, {
        prefix,
        pageSize: req.pageSize,
        pageToken: req.pageToken,
        filterText: req.filter,
        matches: filter && ((d) => matchesDatasetFilter(filter, d)),
      });
      const withLatest = await Promise.all(page.map(async (d) => datasetToProto(d, await latestVersion(versions, d.name))));
      return { datasets: withLatest, nextPageToken };
    },

    async updateDataset(req) {
      if (!req.dataset) throw invalidArgument("MISSING_DATASET", "update needs a dataset");
      const paths = req.updateMask?.paths.length ? req.updateMask.paths : ["description", "labels"];
      const unknown = paths.filter((p) => p !== "description" && p !== "labels");
      if (unknown.length) throw invalidArgument("INVALID_UPDATE_MASK", `cannot update ${unknown.join(", ")}; updatable: description, labels`);
      for (;;) {
        const { record, rev } = await getDataset(req.dataset.name);
        const next: DatasetRecord = {
          ...record,
          description: paths.includes("description") ? req.dataset.description : record.description,
          labels: paths.includes("labels") ? { ...req.dataset.labels } : record.labels,
          updateTime: now().toISOString(),
        };
        try {
          await datasets.update(record.name, next, rev);
          return { dataset: datasetToProto(next, await latestVersion(versions, record.name)) };
        } catch (e) {
          if (!isKilnError(e, Code.Aborted)) throw e;
        }
      }
    },

    async deleteDataset(req) {
      const name = parseDatasetName(req.name).name;
      const found = await datasets.get(name);
      if (!found) {
        if (req.allowMissing) return { deleted: false };
        throw notFound("DATASET_NOT_FOUND", `dataset ${name} not found`, { dataset: name });
      }
      const dropped = (await versions.list({ prefix: versionPrefix(name) })).flatMap((v) => v.value.chunks.map((c) => c.sha256));
      await versions.deletePrefix(versionPrefix(name));
      await datasets.delete(name);
      await profiles.forget(name);
      await storeGarbage(deps).mark(dropped);
      await uploads.maintain();
      await publishDatasetEvent(deps.bus, "deleted", found.value, now());
      return { deleted: true };
    },

    async writeDataset(requests, ctx) {
      const iterator = requests[Symbol.asyncIterator]();
      const first = await iterator.next();
      if (first.done || first.value.message.case !== "header") {
        throw invalidArgument("MISSING_HEADER", "a write starts with a header message");
      }
      const header = first.value.message.value;
      const { spec } = writeSpecFromHeader(header, ctx.values.get(CALLER));
      const accumulator = new ChunkAccumulator(spec, deps);
      let version;
      try {
        for await (const msg of untilCommit<WriteDatasetRequest>(iterator, header.endsWithCommit, `the write of ${header.name}`)) {
          if (msg.message.case === "chunk") await accumulator.add(msg.message.value.data);
          else if (msg.message.case === "reference") await accumulator.addStored(msg.message.value);
          else throw invalidArgument("UNEXPECTED_HEADER", "only the first message of a write is a header");
        }
        version = await commitWrite(deps, spec, await accumulator.finish());
      } catch (e) {
        // What a failed write stored is unreferenced: collected after the grace period.
        await storeGarbage(deps).mark(accumulator.state.chunks.map((c) => c.sha256));
        throw e;
      }
      await uploads.maintain();
      return { version: versionToProto(version) };
    },

    beginUpload: (req, ctx) => uploads.begin(req, ctx.values.get(CALLER)),
    appendUpload: (req) => uploads.append(req),
    getUpload: (req) => uploads.get(req),
    commitUpload: (req) => uploads.commit(req),
    abortUpload: (req) => uploads.abort(req),

    async *readDataset(req) {
      const dataset = parseDatasetName(req.name).name;
      const record = await getVersion(dataset, Number(req.version));
      const read = prepareRead(deps, record, {
        columns: req.columns,
        filter: req.filter,
        offset: Number(req.offset),
        limit: Number(req.limit),
      });
      const json = wantsJsonRows(req.encoding);
      if (json && read.header.kind !== DatasetKind.TABLE) throw invalidArgument("NOT_A_TABLE", `JSON rows are read from tables; ${read.header.dataset} is a ${DatasetKind[read.header.kind]}`);
      yield { message: { case: "header", value: versionToProto(read.header) } };
      if (json) {
        for await (const data of read.chunks()) for (const json of jsonRowPieces(decodeChunk(data).batches)) yield { message: { case: "json", value: json } };
        return;
      }
      if (req.byReference && read.stored) {
        for (const c of read.stored) {
          yield { message: { case: "reference", value: { path: CHUNK_PATH_PREFIX + c.sha256, sha256: c.sha256, size: BigInt(c.size), rows: BigInt(c.rows) } } };
        }
        return;
      }
      for await (const data of read.chunks()) yield { message: { case: "chunk", value: { data } } };
    },

    async getDatasetVersion(req) {
      const { dataset, version } = parseVersionName(req.name);
      return { version: versionToProto(await getVersion(dataset.name, version)) };
    },

    async listDatasetVersions(req) {
      const { record } = await getDataset(req.parent);
      const size = pageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, "");
      const rows = await versions.list({ prefix: versionPrefix(record.name), reverse: true, after, limit: size + 1 });
      const page = rows.slice(0, size);
      return {
        versions: page.map((r) => versionToProto(r.value)),
        nextPageToken: rows.length > size ? encodePageToken(page[page.length - 1].key, "") : "",
      };
    },
  
    profileDataset: async (req) => ({ profile: await profiles.profile(req.selection) }),
    compareDatasets: (req) => profiles.compare(req),
  };
}
