import type { Client } from "@connectrpc/connect";
import { RecordBatch, Table, type Schema } from "apache-arrow";
import { batchesToIpcChunks, bytesPerElement, bytesToTensor, columnsToBatch, DataFormatError, decodeChunk, isColumnDict, isRowObjects, rowsToBatch, schemaFromIpc, tensorToBytes, dtypeOf } from "@kiln/data";
import { ElementType } from "@kiln/proto/kiln/common/v1/tensor_pb";
import { DatasetKind, StoreService, WriteMode, type DatasetVersion, type ReadDatasetResponse } from "@kiln/proto/kiln/store/v1/store_pb";
import { call, NotFoundError } from "./errors.js";
import type { ChunkFetcher } from "./chunk-fetch.js";
import { CHUNK_BYTES, collect, rechunk, slices } from "./byte-sources.js";
import type { BufferRecycler } from "./buffer-recycler.js";
import { downloadBuffers, openDownload, type DownloadReader } from "./download-stream.js";
import { classify, type ClassifiedInput, type DatasetInput, type KindName, type TensorData } from "./inputs.js";
import { resourceName } from "./names.js";
import { datasetInfo, versionInfo, type DatasetInfo, type VersionInfo } from "./summaries.js";
import { sendWrite, type ProgressListener, type WriteTarget } from "./transfer.js";
import { datasetSelection, type DatasetRef } from "./dataset-refs.js";
import { driftFromProto, profileFromProto, type DatasetProfile, type DriftOptions, type DriftReport } from "./drift.js";
import { allPages } from "@kiln/contracts";

export { CHUNK_BYTES } from "./byte-sources.js";

export type WriteModeName = "upsert" | "create" | "append" | "replace";

export interface PutOptions {
  /** Default "upsert": create if missing, else append (OmegaML's default). */
  mode?: WriteModeName;
  /** Overrides the kind guessed from the value. */
  kind?: KindName;
  description?: string;
  labels?: Record<string, string>;
  comment?: string;
  /** The version's author when a service writes it for someone (a token of role service only). */
  onBehalfOf?: string;
  /** For files. */
  mediaType?: string;
  onProgress?: ProgressListener;
}

export interface ReadOptions {
  /** Default: the latest version. */
  version?: number;
  columns?: string[];
  /** e.g. `age > 30 AND country IN ("DE","FR") OR vip = true` */
  filter?: string;
  offset?: number;
  limit?: number;
  onProgress?: ProgressListener;
}

export type DatasetValue = Table | TensorData | Uint8Array | unknown;

/** One stored chunk's record batches, and the memory under them on loan (see `Datasets.readChunks`). */
export interface LentBatches {
  batches: RecordBatch[];
  /** Nothing refers to these batches any more: a later chunk may be fetched into their memory. */
  release(): void;
}

const modes: Record<WriteModeName, WriteMode> = {
  upsert: WriteMode.UNSPECIFIED,
  create: WriteMode.CREATE,
  append: WriteMode.APPEND,
  replace: WriteMode.REPLACE,
};

const elementTypes: Record<NonNullable<TensorData["dtype"]>, ElementType> = {
  float32: ElementType.FLOAT32,
  float64: ElementType.FLOAT64,
  int32: ElementType.INT32,
  int64: ElementType.INT64,
  uint8: ElementType.UINT8,
  bool: ElementType.BOOL,
};

/** `kiln.datasets`: OmegaML's datasets.put / get / list / drop, typed, versioned and streamed. */
export class Datasets {
  /** Memory released by readChunks callers, for later reads to fetch into. */
  private readonly released: BufferRecycler;

  constructor(
    private readonly store: Client<typeof StoreService>,
    private readonly project: string,
    private readonly writeMode: "stream" | "resumable",
    private readonly chunkFetcher?: ChunkFetcher,
    sharedChunkMemory = false,
  ) {
    this.released = downloadBuffers(sharedChunkMemory);
  }

  private get writer(): WriteTarget {
    return { store: this.store, mode: this.writeMode, fetcher: this.chunkFetcher };
  }

  private name(name: string): string {
    return resourceName(this.project, "datasets", name);
  }

  /**
   * Stores a value as a new version: tables, tensors, JSON documents or bytes. Rows or
   * columns of plain values appended to a table (upsert, append) take that table's column
   * types when they fit them, as a file put by the CLI does: whole numbers into an Int64
   * column, a column of nulls keeping its type (rows that do not fit go as they are, for
   * the store to refuse with SCHEMA_MISMATCH).
   */
  async put(name: string, value: DatasetInput, options: PutOptions = {}): Promise<VersionInfo> {
    const appending = (options.mode ?? "upsert") === "upsert" || options.mode === "append";
    const plain = isRowObjects(value) || (isColumnDict(value) && !Object.values(value).some((c) => ArrayBuffer.isView(c)));
    const schema = appending && plain && (!options.kind || options.kind === "table") ? await this.tableSchema(name) : undefined;
    const input = (schema && asTable(value, schema, `dataset ${name}`)) || classify(value, options.kind);
    return versionInfo(await this.send(name, input, options));
  }

  /** Streams record batches (or tables) into one new version of a table dataset. */
  async write(name: string, batches: AsyncIterable<RecordBatch | Table> | Iterable<RecordBatch | Table>, options: PutOptions = {}): Promise<VersionInfo> {
    const header = this.header(name, DatasetKind.TABLE, options);
    const chunks = batchesToIpcChunks(flattenBatches(batches), CHUNK_BYTES);
    return versionInfo(await sendWrite(this.writer, header, chunks, options.onProgress));
  }

  /** Streams raw bytes into a file (or, with kind "document", JSON text) dataset. */
  async writeBytes(name: string, bytes: AsyncIterable<Uint8Array>, options: PutOptions & { totalBytes?: number } = {}): Promise<VersionInfo> {
    const kind = options.kind === "document" ? DatasetKind.DOCUMENT : DatasetKind.FILE;
    const header = this.header(name, kind, options);
    return versionInfo(await sendWrite(this.writer, header, rechunk(bytes, CHUNK_BYTES), options.onProgress, options.totalBytes));
  }

  /** Reads a table dataset as record batches, as they arrive. */
  async *read(name: string, options: ReadOptions = {}): AsyncGenerator<RecordBatch> {
    for await (const { batches } of this.readChunks(name, options)) yield* batches;
  }

  /**
   * Reads a table as `read` does, a stored chunk's batches at a time, with the memory under
   * them on loan: call `release()` once nothing refers to them, and a later chunk (of this
   * read or a later one) is fetched into that memory instead of fresh memory. Reads then
   * reuse a few chunks' worth (kept by this client, at most six); fresh buffers cost V8 a
   * full garbage collection every ~64 MB read. Releasing batches still in use lets a later
   * chunk overwrite them.
   */
  async *readChunks(name: string, options: ReadOptions = {}): AsyncGenerator<LentBatches> {
    const { header, chunks, recycle } = await this.openRead(name, options);
    if (header.kind !== DatasetKind.TABLE) throw new TypeError(`${name} is not a table`);
    for await (const chunk of chunks) {
      let lent = true; // a second release() of the same chunk must not hand its memory out again
      const release = () => {
        if (lent) recycle(chunk);
        lent = false;
      };
      yield { batches: decodeChunk(chunk).batches, release };
    }
  }

  /**
   * The raw read: the version header, then the chunks as the server sends them
   * (Arrow IPC streams for tables, row bytes for tensors, NDJSON for documents, bytes for files).
   */
  async readRaw(name: string, options: ReadOptions = {}): Promise<{ header: DatasetVersion; chunks: AsyncGenerator<Uint8Array> }> {
    const { header, chunks } = await this.openRead(name, options);
    return { header, chunks };
  }

  private openRead(name: string, options: ReadOptions) {
    const request = {
      name: this.name(name),
      version: BigInt(options.version ?? 0),
      columns: options.columns ?? [],
      filter: options.filter ?? "",
      offset: BigInt(options.offset ?? 0),
      limit: BigInt(options.limit ?? 0),
      byReference: this.chunkFetcher !== undefined,
    };
    const whole = !request.columns.length && !request.filter && !request.offset && !request.limit;
    return openDownload((signal) => this.store.readDataset(request, { signal }), datasetReads(whole), this.chunkFetcher, options.onProgress, this.released);
  }

  /**
   * Reads a version back as what it is: an Arrow Table, a tensor {data, shape, dtype},
   * a JSON value (an array of them when several documents were appended), or bytes.
   */
  async get(name: string, options: ReadOptions = {}): Promise<DatasetValue> {
    const { header, chunks } = await this.readRaw(name, options);
    switch (header.kind) {
      case DatasetKind.TABLE: {
        const batches: RecordBatch[] = [];
        for await (const chunk of chunks) batches.push(...decodeChunk(chunk).batches);
        if (batches.length === 0) return new Table(decodeChunk(header.arrowSchema).schema);
        return new Table(batches);
      }
      case DatasetKind.TENSOR: {
        const bytes = await collect(chunks);
        const dtype = ElementType[header.dtype].toLowerCase() as NonNullable<TensorData["dtype"]>;
        const rowShape = header.shape.slice(1).map(Number);
        const rowBytes = rowShape.reduce((a, b) => a * b, 1) * bytesPerElement(dtype);
        const rows = bytes.length / rowBytes;
        return { ...bytesToTensor(dtype, [rows, ...rowShape], bytes), dtype };
      }
      case DatasetKind.DOCUMENT: {
        const text = new TextDecoder().decode(await collect(chunks));
        const docs = text.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l) as unknown);
        return docs.length === 1 ? docs[0] : docs;
      }
      default:
        return collect(chunks);
    }
  }

  async create(name: string, kind: KindName, options: { description?: string; labels?: Record<string, string> } = {}): Promise<DatasetInfo> {
    const full = this.name(name);
    const parent = full.slice(0, full.indexOf("/datasets/"));
    const res = await call(() =>
      this.store.createDataset({
        parent,
        datasetId: full.slice(full.lastIndexOf("/") + 1),
        kind: DatasetKind[kind.toUpperCase() as keyof typeof DatasetKind],
        description: options.description ?? "",
        labels: options.labels ?? {},
      }),
    );
    return datasetInfo(res.dataset!);
  }

  async info(name: string): Promise<DatasetInfo> {
    return datasetInfo((await call(() => this.store.getDataset({ name: this.name(name) }))).dataset!);
  }

  /** The Arrow schema of a table's latest version; undefined when there is no such dataset, or it holds no table yet. */
  async tableSchema(name: string): Promise<Schema | undefined> {
    const found = await call(() => this.store.getDataset({ name: this.name(name) })).catch((e: unknown) => {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    });
    const latest = found?.dataset?.latest;
    return latest?.kind === DatasetKind.TABLE && latest.arrowSchema.length ? schemaFromIpc(latest.arrowSchema) : undefined;
  }

  /** Every dataset of the project matching the filter (all pages). */
  async list(options: { filter?: string } = {}): Promise<DatasetInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.store.listDatasets({ parent: `projects/${this.project}`, filter: options.filter ?? "", pageSize: 1000, pageToken }));
      return { items: res.datasets.map(datasetInfo), nextPageToken: res.nextPageToken };
    });
  }

  /** Versions, newest first. */
  async versions(name: string): Promise<VersionInfo[]> {
    return allPages(async (pageToken) => {
      const res = await call(() => this.store.listDatasetVersions({ parent: this.name(name), pageSize: 1000, pageToken }));
      return { items: res.versions.map(versionInfo), nextPageToken: res.nextPageToken };
    });
  }

  async update(name: string, changes: { description?: string; labels?: Record<string, string> }): Promise<DatasetInfo> {
    const paths = Object.keys(changes).filter((k) => k === "description" || k === "labels");
    const res = await call(() =>
      this.store.updateDataset({
        dataset: { name: this.name(name), description: changes.description ?? "", labels: changes.labels ?? {} },
        updateMask: { paths },
      }),
    );
    return datasetInfo(res.dataset!);
  }

  /**
   * A table's profile, column by column (omega-ml's drift snapshot): counts, nulls, moments,
   * percentiles and value counts, of a version (`"sales@3"`; default the latest) or a
   * selection of it (`{ dataset, version, columns, filter }`). The store computes it once per
   * version and selection.
   */
  async profile(ref: DatasetRef): Promise<DatasetProfile> {
    const res = await call(() => this.store.profileDataset({ selection: datasetSelection(this.project, ref) }));
    return profileFromProto(res.profile!);
  }

  /**
   * Data drift: the target's columns compared with the baseline's (PSI over the baseline's
   * deciles or the values, a KS or chi-squared test), each flagged when its PSI reaches
   * `psiThreshold` (0.2), or its p-value falls below `pValueThreshold` if given.
   */
  async drift(baseline: DatasetRef, target: DatasetRef, options: DriftOptions = {}): Promise<DriftReport> {
    const res = await call(() =>
      this.store.compareDatasets({
        baseline: datasetSelection(this.project, baseline),
        target: datasetSelection(this.project, target),
        psiThreshold: options.psiThreshold ?? 0,
        pValueThreshold: options.pValueThreshold ?? 0,
      }),
    );
    return driftFromProto(res);
  }

  /** Deletes the dataset and its versions; returns false if it did not exist and `force` is set. */
  async drop(name: string, options: { force?: boolean } = {}): Promise<boolean> {
    const res = await call(() => this.store.deleteDataset({ name: this.name(name), allowMissing: options.force ?? false }));
    return res.deleted;
  }

  private header(name: string, kind: DatasetKind, options: PutOptions) {
    return {
      name: this.name(name),
      kind,
      mode: modes[options.mode ?? "upsert"],
      description: options.description ?? "",
      labels: options.labels ?? {},
      arrowSchema: new Uint8Array(),
      dtype: ElementType.UNSPECIFIED,
      rowShape: [] as bigint[],
      mediaType: options.mediaType ?? "",
      comment: options.comment ?? "",
      onBehalfOf: options.onBehalfOf ?? "",
    };
  }

  private send(name: string, input: ClassifiedInput, options: PutOptions): Promise<DatasetVersion> {
    const header = this.header(name, input.kind, options);
    switch (input.kind) {
      case DatasetKind.TABLE:
        return sendWrite(this.writer, header, batchesToIpcChunks(input.table.batches, CHUNK_BYTES), options.onProgress);
      case DatasetKind.TENSOR: {
        const { tensor } = input;
        const dtype = tensor.dtype ?? dtypeOf(tensor.data)!;
        const bytes = tensorToBytes(tensor.data, tensor.shape);
        const rowBytes = Math.max(1, bytes.length / Math.max(1, tensor.shape[0] ?? 1));
        header.dtype = elementTypes[dtype];
        header.rowShape = tensor.shape.slice(1).map(BigInt);
        const piece = Math.max(rowBytes, Math.floor(CHUNK_BYTES / rowBytes) * rowBytes);
        return sendWrite(this.writer, header, slices(bytes, piece), options.onProgress, bytes.length);
      }
      case DatasetKind.DOCUMENT: {
        const text = JSON.stringify(input.document);
        if (text === undefined) throw new TypeError("a document must be a JSON value");
        const bytes = new TextEncoder().encode(text);
        return sendWrite(this.writer, header, slices(bytes, CHUNK_BYTES), options.onProgress, bytes.length);
      }
      default:
        return sendWrite(this.writer, header, slices(input.bytes, CHUNK_BYTES), options.onProgress, input.bytes.length);
    }
  }
}

async function* flattenBatches(source: AsyncIterable<RecordBatch | Table> | Iterable<RecordBatch | Table>): AsyncGenerator<RecordBatch> {
  for await (const item of source) {
    if (item instanceof Table) yield* item.batches;
    else yield item;
  }
}

/** Reads of a dataset version; only a `whole` read (no columns, filter, offset or limit) carries the version's byte size. */
const datasetReads = (whole: boolean): DownloadReader<ReadDatasetResponse, DatasetVersion> => ({
  header: (r: ReadDatasetResponse) => (r.message.case === "header" ? r.message.value : undefined),
  piece: (r: ReadDatasetResponse) => {
    const m = r.message;
    if (m.case === "chunk") return { bytes: m.value.data };
    if (m.case === "reference") return { reference: m.value };
    return undefined;
  },
  totalBytes: (header: DatasetVersion) => (whole ? Number(header.byteSize) : undefined),
});

/** Plain rows or columns as a table of a given schema, or undefined when they do not fit it. */
function asTable(value: unknown, schema: Schema, from: string): ClassifiedInput | undefined {
  try {
    const batch = isRowObjects(value) ? rowsToBatch(value, schema, 0, from) : columnsToBatch(value as Record<string, ArrayLike<unknown>>, schema, from);
    return { kind: DatasetKind.TABLE, table: new Table(batch) };
  } catch (e) {
    if (e instanceof DataFormatError) return undefined;
    throw e;
  }
}
