import type { RecordBatch } from "apache-arrow";
import { compileFilter, parseFilter, projectColumns, selectRows, TableProfiler, type RowFilter } from "@kiln/data";
import type { DatasetProfile } from "@kiln/sdk";
import { formatOf, readTableFile } from "./formats.js";

/**
 * A local file's profile, computed here as the store computes a dataset's (the same
 * profiler, one pass), so a CSV is compared with a dataset, or with another file, before
 * or without putting it.
 */
export async function localProfile(path: string, columns: string[] = [], filter = ""): Promise<DatasetProfile> {
  const format = formatOf(path);
  if (!format) throw new Error(`${path}: a table file is .csv, .tsv, .json, .ndjson, .arrow or .parquet`);
  let profiler: TableProfiler | undefined;
  let keep: RowFilter | undefined;
  for await (let batch of readTableFile(path, format) as AsyncIterable<RecordBatch>) {
    if (!profiler) {
      const missing = columns.filter((c) => !batch.schema.fields.some((f) => f.name === c));
      if (missing.length) throw new Error(`${path} has no column ${missing.join(", ")}; it has ${batch.schema.fields.map((f) => f.name).join(", ")}`);
      if (filter) keep = compileFilter(parseFilter(filter), batch.schema);
      profiler = new TableProfiler((columns.length ? projectColumns(batch, columns) : batch).schema);
    }
    if (keep) batch = selectRows(batch, keep(batch));
    profiler.add(columns.length ? projectColumns(batch, columns) : batch);
  }
  const { rows, columns: profiled } = profiler!.finish();
  return { selection: { dataset: path, version: 0, columns, filter }, rows, columns: profiled, createTime: new Date() };
}
