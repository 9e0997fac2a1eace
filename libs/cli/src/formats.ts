import { createReadStream, createWriteStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { extname } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { RecordBatchReader, RecordBatchStreamWriter, type RecordBatch, type Schema } from "apache-arrow";
import { batchesToNdjson, DataFormatError, parseCsv, parseJsonArray, parseNdjson, tableToCsv } from "@kiln/data";
import { readParquetFile, writeParquetFile } from "./parquet.js";

export type TableFormat = "csv" | "tsv" | "json" | "ndjson" | "arrow" | "parquet";

const byExtension: Record<string, TableFormat> = {
  ".csv": "csv",
  ".tsv": "tsv",
  ".json": "json",
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".arrow": "arrow",
  ".arrows": "arrow",
  ".ipc": "arrow",
  ".feather": "arrow",
  ".parquet": "parquet",
};

export function formatOf(path: string, override?: string): TableFormat | undefined {
  if (override) {
    if (!Object.values(byExtension).includes(override as TableFormat)) throw new Error(`unknown format "${override}": use csv, tsv, json, ndjson, arrow or parquet`);
    return override as TableFormat;
  }
  return byExtension[extname(path).toLowerCase()];
}

const mediaTypes: Record<string, string> = {
  ".txt": "text/plain",
  ".md": "text/markdown",
  ".html": "text/html",
  ".pdf": "application/pdf",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".zip": "application/zip",
  ".gz": "application/gzip",
  ".onnx": "application/onnx",
};

export function mediaTypeOf(path: string): string {
  return mediaTypes[extname(path).toLowerCase()] ?? "application/octet-stream";
}

export function openInput(path: string): Readable {
  return path === "-" ? process.stdin : createReadStream(path, { highWaterMark: 1024 * 1024 });
}

/** Columns' types to read a text table file into (those of the dataset it is appended to), and where they come from. */
export interface GivenSchema {
  schema: Schema;
  from: string;
}

/** Record batches from a table file, streamed; a text format's columns typed as `given` has them. */
export function readTableFile(path: string, format: TableFormat, given?: GivenSchema): AsyncIterable<RecordBatch> {
  return notEmpty(tableBatches(path, format, given), path);
}

/** Fails a file that gave no batch at all: it has no columns either (an empty CSV, a JSON `[]`), so it is no table. */
async function* notEmpty(batches: AsyncIterable<RecordBatch>, path: string): AsyncGenerator<RecordBatch> {
  let any = false;
  for await (const batch of batches) {
    any = true;
    yield batch;
  }
  if (!any) throw new Error(`${path === "-" ? "stdin" : path} holds no table: a table needs at least its columns (a CSV header line, a JSON row)`);
}

function tableBatches(path: string, format: TableFormat, given?: GivenSchema): AsyncIterable<RecordBatch> {
  if (format === "parquet" && path === "-") throw new Error("Parquet is read from a file, not stdin");
  const input = openInput(path);
  const types = given && { types: new Map(given.schema.fields.map((f) => [f.name, f.type])), typesFrom: given.from };
  switch (format) {
    case "csv":
      return parseCsv(input, types);
    case "tsv":
      return parseCsv(input, { delimiter: "\t", ...types });
    case "ndjson":
      return parseNdjson(input, { schema: given });
    case "json":
      return jsonArrayBatches(input, given);
    case "arrow":
      return arrowBatches(input);
    case "parquet":
      input.destroy();
      return readParquetFile(path);
  }
}

async function* arrowBatches(input: Readable): AsyncGenerator<RecordBatch> {
  for await (const reader of await RecordBatchReader.readAll(input as unknown as AsyncIterable<Uint8Array>)) {
    for await (const batch of reader) yield batch;
  }
}

/** A JSON array of row objects, read as it streams in. */
async function* jsonArrayBatches(input: Readable, given?: GivenSchema): AsyncGenerator<RecordBatch> {
  try {
    yield* parseJsonArray(input as AsyncIterable<Uint8Array>, { schema: given });
  } catch (e) {
    if (e instanceof DataFormatError && e.message.startsWith("a .json table file holds")) throw new Error(`${e.message} (use --kind document to store any JSON)`);
    throw e;
  }
}

/** Throws unless kiln can write tables in this format there; verbs call it before asking the server for anything. */
export function checkWritable(format: TableFormat, path: string): void {
  if (format === "parquet" && path === "-") throw new Error("Parquet is written to a file (-o FILE.parquet), not stdout");
}

/** Writes batches to a file (or stdout for "-") in the given format; a file left half-written by a failure is removed. */
export async function writeTableFile(batches: AsyncIterable<RecordBatch>, path: string, format: TableFormat): Promise<void> {
  checkWritable(format, path);
  if (format === "parquet") return removedOnFailure(path, () => writeParquetFile(batches, path));
  return removedOnFailure(path, () => writeTable(batches, path, format));
}

async function removedOnFailure(path: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (e) {
    if (path !== "-") await unlink(path).catch(() => {});
    throw e;
  }
}

async function writeTable(batches: AsyncIterable<RecordBatch>, path: string, format: TableFormat): Promise<void> {
  const out = path === "-" ? process.stdout : createWriteStream(path);
  const source = (() => {
    switch (format) {
      case "csv":
      case "tsv":
        return Readable.from(tableToCsv(batches, format === "tsv" ? { delimiter: "\t" } : {}));
      case "ndjson":
        return Readable.from(batchesToNdjson(batches));
      case "json":
        return Readable.from(jsonArray(batchesToNdjson(batches)));
      default:
        return Readable.from(arrowStream(batches));
    }
  })();
  if (out === process.stdout) {
    for await (const piece of source) if (!out.write(piece)) await new Promise((r) => out.once("drain", r));
  } else {
    await pipeline(source, out);
  }
}

/** NDJSON blocks (whole lines) as one JSON array, a block at a time. */
async function* jsonArray(ndjson: AsyncIterable<string>): AsyncGenerator<string> {
  let first = true;
  yield "[";
  for await (const block of ndjson) {
    const lines = block.trimEnd();
    if (!lines) continue;
    yield (first ? "\n" : ",\n") + lines.replaceAll("\n", ",\n");
    first = false;
  }
  yield first ? "]\n" : "\n]\n";
}

async function* arrowStream(batches: AsyncIterable<RecordBatch>): AsyncGenerator<Uint8Array> {
  const writer = new RecordBatchStreamWriter();
  const feeding = (async () => {
    try {
      for await (const batch of batches) writer.write(batch);
    } finally {
      writer.finish();
    }
  })();
  for await (const piece of writer) yield piece;
  await feeding;
}
