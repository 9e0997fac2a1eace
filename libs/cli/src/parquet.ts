import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from "hyparquet";
import type { RecordBatch, Schema } from "apache-arrow";
import { rowsToBatch, rowsToTable } from "@kiln/data";

/**
 * A Parquet file as record batches, one row group at a time (hyparquet: pure JS, no
 * native download). The first row group's inferred schema holds for the rest.
 */
export async function* readParquetFile(path: string): AsyncGenerator<RecordBatch> {
  const file = await asyncBufferFromFile(path);
  const metadata = await parquetMetadataAsync(file);
  let schema: Schema | undefined;
  let rowStart = 0;
  for (const group of metadata.row_groups) {
    const rowEnd = rowStart + Number(group.num_rows);
    const rows = (await parquetReadObjects({ file, metadata, rowStart, rowEnd })) as Record<string, unknown>[];
    rowStart = rowEnd;
    if (!schema) {
      const table = rowsToTable(rows);
      schema = table.schema;
      yield* table.batches;
    } else {
      yield rowsToBatch(rows, schema);
    }
  }
}
