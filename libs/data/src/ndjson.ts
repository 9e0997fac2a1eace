import type { RecordBatch, Schema } from "apache-arrow";
import { DataFormatError } from "./errors.js";
import { batchJsonLines } from "./json-rows.js";
import { parseJsonExact } from "./json-exact.js";
import { rowsToBatch, rowsToTable } from "./rows.js";

type TextSource = string | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;

/** Rows as they are read, into record batches: the first batch's schema holds for the later ones. */
export class RowBatcher {
  rows: Record<string, unknown>[] = [];
  private schema: Schema | undefined;
  private flushed = 0;
  private readonly schemaFrom: string;

  /** With a schema (the dataset's rows are appended to, named by `schemaFrom`), every batch takes its types. */
  constructor(given?: { schema: Schema; from: string }) {
    this.schema = given?.schema;
    this.schemaFrom = given?.from ?? "the first rows";
  }

  flush(): RecordBatch[] {
    if (!this.rows.length) return [];
    let batches: RecordBatch[];
    if (!this.schema) {
      const table = rowsToTable(this.rows);
      this.schema = table.schema;
      batches = table.batches;
    } else {
      batches = [rowsToBatch(this.rows, this.schema, this.flushed, this.schemaFrom)];
    }
    this.flushed += this.rows.length;
    this.rows.length = 0;
    return batches;
  }
}

export interface JsonTableOptions {
  batchRows?: number;
  /** Types and columns to read the rows into (the dataset's they are appended to), instead of inferring them from the first batch. */
  schema?: { schema: Schema; from: string };
}

/** Newline-delimited JSON objects into record batches; the first batch fixes the schema. */
export async function* parseNdjson(source: TextSource, options: JsonTableOptions = {}): AsyncGenerator<RecordBatch> {
  const batchRows = options.batchRows ?? 65_536;
  const decoder = new TextDecoder();
  const batcher = new RowBatcher(options.schema);
  let rest = "";
  let line = 0;
  const take = (text: string) => {
    line++;
    if (!text.trim()) return;
    let value: unknown;
    try {
      value = parseJsonExact(text);
    } catch (e) {
      throw new DataFormatError(`NDJSON line ${line}: ${(e as Error).message}`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new DataFormatError(`NDJSON line ${line} is not an object`);
    batcher.rows.push(value as Record<string, unknown>);
  };
  for await (const piece of typeof source === "string" ? [source] : source) {
    const text = rest + (typeof piece === "string" ? piece : decoder.decode(piece, { stream: true }));
    const lines = text.split("\n");
    rest = lines.pop()!;
    for (const l of lines) {
      take(l);
      if (batcher.rows.length >= batchRows) yield* batcher.flush();
    }
  }
  take(rest);
  yield* batcher.flush();
}

/** Record batches as NDJSON text, one object per row, as JSON rows map values (see json-rows.ts). */
export async function* batchesToNdjson(batches: AsyncIterable<RecordBatch> | Iterable<RecordBatch>): AsyncGenerator<string> {
  for await (const batch of batches) {
    const lines = batchJsonLines(batch);
    if (lines.length) yield lines.join("\n") + "\n";
  }
}
