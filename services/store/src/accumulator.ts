import { createHash } from "node:crypto";
import { invalidArgument, resourceExhausted } from "@kiln/core";
import { checkUploadedChunk } from "@kiln/storage";
import { DataFormatError, decodeChunk, describeFields, schemaFromIpc, schemasEqual, schemaToIpc } from "@kiln/data";
import { DatasetKind } from "@kiln/proto/kiln/store/v1/store_pb";
import type { Schema } from "apache-arrow";
import type { StoreDeps } from "./deps.js";
import { elementSize } from "./element-types.js";
import type { ChunkRef, FieldRecord } from "./records.js";
import type { WriteSpec } from "./write-spec.js";

/** What a write has received so far; plain JSON so a resumable upload can keep it between calls. */
export interface AccumulatorState {
  chunks: (ChunkRef & { offset: number })[];
  nextOffset: number;
  /** TABLE: the schema every chunk must match, base64 IPC. */
  arrowSchema?: string;
}

/** The chunks of a finished write and what they say about the data. */
export interface FinishedWrite {
  chunks: ChunkRef[];
  rowCount: number;
  byteSize: number;
  arrowSchema?: string;
  fields?: FieldRecord[];
}

/**
 * Validates each incoming chunk for the dataset kind and stores it as a blob. Nothing
 * is visible to readers until the caller commits what finish() returns.
 */
export class ChunkAccumulator {
  private schema?: Schema;
  readonly state: AccumulatorState;

  constructor(
    private readonly spec: WriteSpec,
    private readonly deps: Pick<StoreDeps, "blobs" | "limits">,
    state?: AccumulatorState,
  ) {
    this.state = state ?? { chunks: [], nextOffset: 0, arrowSchema: spec.arrowSchema };
    if (this.state.arrowSchema) this.schema = schemaFromIpc(Buffer.from(this.state.arrowSchema, "base64"));
  }

  async add(data: Uint8Array): Promise<ChunkRef> {
    return this.accept(data, async () => (await this.deps.blobs.put(data)).sha256);
  }

  /** A chunk the client stored beforehand with an HTTP PUT: checked like any other, not stored again. */
  async addStored(ref: { sha256: string; size: bigint }): Promise<ChunkRef> {
    const size = await checkUploadedChunk(this.deps.blobs, ref);
    if (size > this.deps.limits.maxMessageBytes) throw invalidArgument("CHUNK_TOO_LARGE", `chunk ${ref.sha256} is larger than a message may be`);
    return this.accept(await this.deps.blobs.getBytes(ref.sha256), async () => ref.sha256);
  }

  private async accept(data: Uint8Array, store: () => Promise<string>): Promise<ChunkRef> {
    const index = this.state.chunks.length;
    if (this.state.nextOffset + data.length > this.deps.limits.maxDatasetBytes) {
      throw resourceExhausted("DATASET_TOO_LARGE", `the write exceeds the dataset limit of ${this.deps.limits.maxDatasetBytes} bytes`);
    }
    if (this.spec.kind === DatasetKind.DOCUMENT && this.state.nextOffset + data.length > this.deps.limits.maxDocumentBytes) {
      throw resourceExhausted("DOCUMENT_TOO_LARGE", `the document exceeds the limit of ${this.deps.limits.maxDocumentBytes} bytes`);
    }
    const rows = this.validate(data, index);
    const ref = { sha256: await store(), size: data.length, rows, offset: this.state.nextOffset };
    this.state.chunks.push(ref);
    this.state.nextOffset += data.length;
    return ref;
  }

  async finish(): Promise<FinishedWrite> {
    const chunks = this.state.chunks.map(({ sha256, size, rows }) => ({ sha256, size, rows }));
    if (this.spec.kind === DatasetKind.DOCUMENT) return this.finishDocument(chunks);
    if (this.spec.kind === DatasetKind.TABLE && !this.schema) {
      throw invalidArgument("MISSING_SCHEMA", "a table write needs an Arrow schema in the header or at least one chunk");
    }
    return {
      chunks,
      rowCount: this.spec.kind === DatasetKind.FILE ? 1 : sum(chunks.map((c) => c.rows)),
      byteSize: sum(chunks.map((c) => c.size)),
      arrowSchema: this.state.arrowSchema,
      fields: this.schema ? describeFields(this.schema) : undefined,
    };
  }

  /** Returns the rows the chunk holds, or throws InvalidArgument. */
  private validate(data: Uint8Array, index: number): number {
    switch (this.spec.kind) {
      case DatasetKind.TABLE:
        return this.validateTableChunk(data, index);
      case DatasetKind.TENSOR: {
        const rowBytes = elementSize(this.spec.dtype) * this.spec.rowShape.reduce((a, b) => a * b, 1);
        if (rowBytes === 0 || data.length % rowBytes !== 0) {
          throw invalidArgument("BAD_TENSOR_CHUNK", `chunk ${index} has ${data.length} bytes, not a whole number of ${rowBytes}-byte rows`);
        }
        return data.length / rowBytes;
      }
      default:
        return 0;
    }
  }

  private validateTableChunk(data: Uint8Array, index: number): number {
    let table;
    try {
      table = decodeChunk(data);
    } catch (e) {
      if (e instanceof DataFormatError) throw invalidArgument("BAD_ARROW_CHUNK", `chunk ${index} is not a valid Arrow IPC stream: ${e.message}`);
      throw e;
    }
    if (!this.schema) {
      this.schema = table.schema;
      this.state.arrowSchema = Buffer.from(schemaToIpc(table.schema)).toString("base64");
    } else if (!schemasEqual(this.schema, table.schema)) {
      throw invalidArgument(
        "SCHEMA_MISMATCH",
        `chunk ${index} has schema (${showFields(table.schema)}) but the write has (${showFields(this.schema)})`,
      );
    }
    return table.numRows;
  }

  /** A document is the concatenation of its pieces; it is stored once, as compact JSON. */
  private async finishDocument(pieces: ChunkRef[]): Promise<FinishedWrite> {
    const parts: Uint8Array[] = [];
    for (const p of pieces) parts.push(await this.deps.blobs.getBytes(p.sha256));
    const text = Buffer.concat(parts).toString("utf8");
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw invalidArgument("BAD_JSON", `the document is not valid JSON: ${(e as Error).message}`);
    }
    const canonical = Buffer.from(JSON.stringify(value), "utf8");
    const blob = await this.deps.blobs.put(canonical);
    return { chunks: [{ sha256: blob.sha256, size: blob.size, rows: 1 }], rowCount: 1, byteSize: blob.size };
  }
}

function showFields(schema: Schema): string {
  return describeFields(schema)
    .map((f) => `${f.name}: ${f.type}`)
    .join(", ");
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** sha256 over the chunk digests in order: equal content, equal digest. */
export function contentDigest(chunks: ChunkRef[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(c.sha256);
  return h.digest("hex");
}
