import { STORE_CHUNK_PATH_PREFIX } from "@kiln/contracts";
import { invalidArgument } from "@kiln/core";
import {
  FilterSyntaxError,
  compileFilter,
  decodeChunk,
  describeFields,
  parseFilter,
  projectColumns,
  schemaFromIpc,
  schemaToIpc,
  selectRows,
  batchesToIpc,
  type RowFilter,
} from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import type { RecordBatch, Schema } from "apache-arrow";
import type { StoreDeps } from "./deps.js";
import { elementSize } from "./element-types.js";
import type { VersionRecord } from "./records.js";

export interface ReadOptions {
  columns: string[];
  filter: string;
  offset: number;
  limit: number;
}

/** A read checked up front, so bad input fails before the first message is sent. */
export interface PreparedRead {
  /** The version as the reader sees it (projected schema). */
  header: VersionRecord;
  chunks(): AsyncGenerator<Uint8Array>;
  /** TABLE: the rows read, a chunk's batches at a time. */
  batches?(): AsyncGenerator<RecordBatch[]>;
  /** Set when the read returns the stored chunks unchanged, so they can be fetched by reference. */
  stored?: VersionRecord["chunks"];
}

const FILE_PIECE_BYTES = 1024 * 1024;
/** Where stored chunks are served for reads by reference. */
export const CHUNK_PATH_PREFIX = STORE_CHUNK_PATH_PREFIX;

export function prepareRead(deps: Pick<StoreDeps, "blobs">, record: VersionRecord, options: ReadOptions): PreparedRead {
  if (options.offset < 0 || options.limit < 0) throw invalidArgument("INVALID_RANGE", "offset and limit must not be negative");
  if (record.kind !== DatasetKind.TABLE && (options.columns.length || options.filter)) {
    throw invalidArgument("NOT_A_TABLE", `columns and filter apply to tables; ${record.dataset} is a ${DatasetKind[record.kind]}`);
  }
  switch (record.kind) {
    case DatasetKind.TABLE:
      return prepareTableRead(deps, record, options);
    case DatasetKind.TENSOR: {
      const whole = options.offset === 0 && options.limit === 0;
      return { header: record, chunks: () => tensorRows(deps, record, options), stored: whole ? record.chunks : undefined };
    }
    case DatasetKind.DOCUMENT:
      return { header: record, chunks: () => documents(deps, record) };
    default:
      return { header: record, chunks: () => fileBytes(deps, record), stored: record.chunks };
  }
}

function prepareTableRead(deps: Pick<StoreDeps, "blobs">, record: VersionRecord, options: ReadOptions): PreparedRead {
  const schema = schemaFromIpc(Buffer.from(record.arrowSchema ?? "", "base64"));
  const plain = !options.filter && options.columns.length === 0 && options.offset === 0 && options.limit === 0;
  if (plain && record.chunks.length > 0) {
    return {
      header: record,
      chunks: async function* () {
        for (const c of record.chunks) yield await deps.blobs.getBytes(c.sha256);
      },
      batches: async function* () {
        for (const c of record.chunks) yield decodeChunk(await deps.blobs.getBytes(c.sha256)).batches;
      },
      stored: record.chunks,
    };
  }
  const keep = checkColumns(schema, options.columns);
  let filter: RowFilter | undefined;
  if (options.filter) {
    try {
      filter = compileFilter(parseFilter(options.filter), schema);
    } catch (e) {
      if (e instanceof FilterSyntaxError) throw invalidArgument("INVALID_FILTER", e.message, { position: String(e.position) });
      throw e;
    }
  }
  const projected = keep ? projectSchema(schema, keep) : schema;
  const header: VersionRecord = {
    ...record,
    arrowSchema: Buffer.from(schemaToIpc(projected)).toString("base64"),
    fields: describeFields(projected),
  };
  const batches = async function* (): AsyncGenerator<RecordBatch[]> {
    let skip = options.offset;
    let left = options.limit || Infinity;
    for (const c of record.chunks) {
      if (left <= 0) break;
      if (!filter && skip >= c.rows) {
        skip -= c.rows; // whole chunk skipped without reading it
        continue;
      }
      const out: RecordBatch[] = [];
      for (let batch of decodeChunk(await deps.blobs.getBytes(c.sha256)).batches) {
        if (left <= 0) break;
        if (filter) batch = selectRows(batch, filter(batch));
        if (skip >= batch.numRows) {
          skip -= batch.numRows;
          continue;
        }
        if (skip > 0 || batch.numRows > left) batch = batch.slice(skip, Math.min(batch.numRows, skip + left));
        skip = 0;
        left -= batch.numRows;
        if (batch.numRows > 0) out.push(keep ? projectColumns(batch, keep) : batch);
      }
      if (out.length) yield out;
    }
  };
  return {
    header,
    batches,
    chunks: async function* () {
      let sent = false;
      for await (const out of batches()) {
        sent = true;
        yield batchesToIpc(out);
      }
      // No rows: one chunk with the schema alone, so a reader that only sees chunks still gets the columns.
      if (!sent) yield schemaToIpc(projected);
    },
  };
}

function checkColumns(schema: Schema, columns: string[]): string[] | undefined {
  if (columns.length === 0) return undefined;
  const known = new Set(schema.fields.map((f) => f.name));
  const missing = columns.filter((c) => !known.has(c));
  if (missing.length) {
    throw invalidArgument("UNKNOWN_COLUMN", `unknown column${missing.length > 1 ? "s" : ""} ${missing.map((m) => `"${m}"`).join(", ")}; the table has ${[...known].join(", ")}`);
  }
  return columns;
}

function projectSchema(schema: Schema, columns: string[]): Schema {
  return schema.select(columns);
}

async function* tensorRows(deps: Pick<StoreDeps, "blobs">, record: VersionRecord, options: ReadOptions): AsyncGenerator<Uint8Array> {
  const rowBytes = elementSize(record.dtype ?? 0) * (record.rowShape ?? []).reduce((a, b) => a * b, 1);
  let skip = options.offset;
  let left = options.limit || Infinity;
  for (const c of record.chunks) {
    if (left <= 0) return;
    if (skip >= c.rows) {
      skip -= c.rows;
      continue;
    }
    const data = await deps.blobs.getBytes(c.sha256);
    const rows = Math.min(c.rows - skip, left);
    yield data.subarray(skip * rowBytes, (skip + rows) * rowBytes);
    skip = 0;
    left -= rows;
  }
}

/** One compact JSON document per line (JSON.stringify never emits a raw newline). */
async function* documents(deps: Pick<StoreDeps, "blobs">, record: VersionRecord): AsyncGenerator<Uint8Array> {
  for (const c of record.chunks) {
    const doc = await deps.blobs.getBytes(c.sha256);
    yield Buffer.concat([doc, Buffer.from("\n")]);
  }
}

async function* fileBytes(deps: Pick<StoreDeps, "blobs">, record: VersionRecord): AsyncGenerator<Uint8Array> {
  let pending: Buffer[] = [];
  let size = 0;
  for (const c of record.chunks) {
    for await (const piece of deps.blobs.get(c.sha256)) {
      pending.push(Buffer.from(piece));
      size += piece.length;
      if (size >= FILE_PIECE_BYTES) {
        yield Buffer.concat(pending);
        pending = [];
        size = 0;
      }
    }
  }
  if (size > 0) yield Buffer.concat(pending);
}
