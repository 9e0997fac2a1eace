import { accessSync } from "node:fs";
import type { RecordBatch } from "apache-arrow";
import { compileFilter, parseFilter, projectColumns, selectRows, type RowFilter } from "@kiln/data";
import type { JobData, JobHandle, Kiln, ProgressListener, RuntimeModel } from "@kiln/sdk";
import { formatOf, readTableFile } from "./formats.js";
import { progressBar } from "./progress.js";

/**
 * A job's X or Y as the command line names it: a dataset ("sales", "sales@3" for version 3),
 * or a local table file (any argument with a "/", such as ./new.csv: no dataset name has
 * one), streamed up as a temporary dataset that is dropped after the job. `columns` keeps
 * only those columns, `filter` only the rows it is true for (the store's filter language,
 * applied here to a file's rows as they are read).
 */
export function jobData(ref: string, columns?: string[], filter?: string): JobData {
  // Named columns are the job's too (as for a dataset), so a refit does not fall back to the parent version's features.
  if (isLocalFile(ref)) return columns?.length ? { local: fileData(ref, () => columns, filter), columns } : fileData(ref, undefined, filter);
  const at = ref.lastIndexOf("@");
  if (at > 0 && !/^\d+$/.test(ref.slice(at + 1))) throw new Error(`"${ref}": a dataset is NAME or NAME@VERSION, a local file a path with a "/" (./${ref})`);
  if (!columns?.length && !filter) return ref;
  return { dataset: at > 0 ? ref.slice(0, at) : ref, version: at > 0 ? Number(ref.slice(at + 1)) : undefined, columns, filter };
}

/**
 * Features and target from one dataset or file (`runtime:fit MODEL X --target COLUMN`): X's
 * other columns, and the target; a filter picks the same rows of both.
 */
export function featuresAndTarget(ref: string, columns: string[] | undefined, target: string, filter?: string): { X: JobData; Y: JobData } {
  if (!isLocalFile(ref)) return { X: jobData(ref, columns, filter), Y: jobData(ref, [target], filter) }; // the executor leaves the target out of one dataset's features
  // A file goes up as two temporary datasets, so the target is left out of the features here.
  return {
    X: columns?.length ? jobData(ref, columns, filter) : fileData(ref, (names) => names.filter((n) => n !== target), filter),
    Y: fileData(ref, () => [target], filter),
  };
}

/**
 * Submits a job on the model, with a progress bar while local files among `inputs` go up;
 * with files to send, the model is looked up first, so a typo in its name does not wait for
 * a big upload.
 */
export async function submitJob(
  kiln: Kiln,
  model: string,
  inputs: (string | undefined)[],
  submit: (runtimeModel: RuntimeModel, onUploadProgress?: ProgressListener) => Promise<JobHandle>,
): Promise<JobHandle> {
  const files = [...new Set(inputs.filter((ref): ref is string => ref !== undefined && isLocalFile(ref)))];
  if (files.length) await kiln.models.get(model);
  const bar = files.length ? progressBar(`send ${files.join(", ")}`) : undefined;
  try {
    return await submit(kiln.runtime.model(model), bar?.onProgress);
  } finally {
    bar?.done();
  }
}

export function isLocalFile(ref: string): boolean {
  return ref.includes("/");
}

/** The file's record batches, streamed, with only the rows `filter` is true for and the columns `keep` picks from each batch's names. */
function fileData(path: string, keep?: (names: string[]) => string[], filter?: string): AsyncIterable<RecordBatch> {
  const format = formatOf(path);
  if (!format) throw new Error(`${path}: a local file is read as CSV, TSV, JSON, NDJSON, Arrow or Parquet, by its extension`);
  try {
    accessSync(path);
  } catch {
    throw new Error(`${path}: no such file`);
  }
  const batches = readTableFile(path, format);
  if (!keep && !filter) return batches;
  const expr = filter ? parseFilter(filter) : undefined; // a syntax error before anything is read
  return (async function* () {
    let rows: RowFilter | undefined;
    for await (const read of batches) {
      rows ??= expr && compileFilter(expr, read.schema);
      const batch = rows ? selectRows(read, rows(read)) : read;
      yield keep ? keepColumns(path, batch, keep) : batch;
    }
  })();
}

function keepColumns(path: string, batch: RecordBatch, keep: (names: string[]) => string[]): RecordBatch {
  const names = batch.schema.fields.map((f) => f.name);
  const kept = keep(names);
  const missing = kept.filter((c) => !names.includes(c));
  if (missing.length) throw new Error(`${path} has no column ${missing.map((c) => `"${c}"`).join(", ")} (columns: ${names.join(", ")})`);
  return projectColumns(batch, kept); // not RecordBatch.select, which keeps every column's data behind the new schema
}
