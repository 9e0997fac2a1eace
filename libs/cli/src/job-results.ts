import type { RecordBatch } from "apache-arrow";
import type { JobHandle, JobInfo, Kiln } from "@kiln/sdk";
import { checkWritable, formatOf, writeTableFile, type TableFormat } from "./formats.js";
import { follow, jobProgress } from "./job-progress.js";
import type { Output } from "./output.js";

/** Where a job's result rows go: `-o`'s file (its format by extension or `--format`), else stdout. */
export interface ResultsTarget {
  path: string;
  format: TableFormat;
}

/** Checked before a job is submitted or read, so a typo in -o costs nothing. */
export function resultsTarget(o: Output, out: string | undefined, format: string | undefined): ResultsTarget {
  const path = out ?? "-";
  const resolved = formatOf(path, format ?? (path === "-" ? (o.json ? "json" : "csv") : undefined)) ?? "csv";
  checkWritable(resolved, path);
  return { path, format: resolved };
}

/**
 * Streams a job's result rows to the target as they come, with its progress on a terminal;
 * resolves once the job succeeded (rejects with its error otherwise).
 */
export async function writeResults(handle: JobHandle, target: ResultsTarget, label: string, kiln: Kiln): Promise<{ rows: number; info: JobInfo }> {
  const display = jobProgress(`${label} (job ${handle.id})`);
  // Progress comes from the job record, rows from the results stream: both at once.
  const watching = follow(handle, display, { kiln });
  watching.catch(() => {}); // its error is the job's, which the results stream reports first
  let rows = 0;
  const batches = (async function* (): AsyncGenerator<RecordBatch> {
    for await (const table of handle.results()) {
      rows += table.numRows;
      yield* table.batches;
    }
  })();
  try {
    await writeTableFile(batches, target.path, target.format);
  } catch (e) {
    display.done();
    throw e;
  }
  return { rows, info: await watching };
}
