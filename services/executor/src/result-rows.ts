import type { Table } from "apache-arrow";
import { tableToIpc } from "@kiln/data";
import type { ResourceRef } from "@kiln/proto/kiln/common/v1/resource_pb";
import type { JobContext } from "./job-context.js";
import { startOutput, type OutputWriter } from "./output-dataset.js";

/** Result messages stay under NATS's default 1 MiB payload limit. */
const MAX_RESULT_BYTES = 768 * 1024;

/**
 * A job's result rows as they come, in order: published in pieces under the bus's message
 * limit, appended to the job's output dataset when it names one (its schema checked before
 * the first rows go out), and counted in the job's progress.
 */
export class ResultRows {
  rows = 0;
  private readonly output?: OutputWriter;

  constructor(
    private readonly ctx: JobContext,
    /** For the progress; 0 when unknown (a filter). */
    private readonly rowsTotal: number,
  ) {
    this.output = ctx.job.outputDataset ? startOutput(ctx) : undefined;
  }

  /** `inputRows`: the input rows these results are of, for the progress. */
  async emit(table: Table, inputRows = table.numRows): Promise<void> {
    if (this.rows === 0) await this.output?.check(table.schema);
    for (const piece of ipcPieces(table)) await this.ctx.results.publish(piece);
    await this.output?.channel.push(table);
    this.rows += inputRows;
    this.ctx.progress.update({ rowsDone: BigInt(this.rows), rowsTotal: BigInt(this.rowsTotal) });
  }

  /** The last rows are out: closes the results, and the output dataset (its new version is `written`). */
  async end(): Promise<void> {
    await this.ctx.results.end();
    this.output?.channel.close();
  }

  /** Drops the output dataset's version being written. */
  fail(e: unknown): void {
    this.output?.channel.close(e);
  }

  /** The output dataset version written, once `end` closed it; undefined without one. */
  get written(): Promise<ResourceRef> | undefined {
    return this.output?.written;
  }
}

function* ipcPieces(table: Table): Generator<Uint8Array> {
  const bytes = tableToIpc(table);
  if (bytes.length <= MAX_RESULT_BYTES || table.numRows <= 1) {
    yield bytes;
    return;
  }
  const half = Math.ceil(table.numRows / 2);
  yield* ipcPieces(table.slice(0, half));
  yield* ipcPieces(table.slice(half));
}
