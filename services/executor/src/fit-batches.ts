import { Table, type RecordBatch } from "apache-arrow";
import type { SerializedModel, TrainingPool } from "@kiln/ml";
import { JobKind, type Job } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import { checkStopped, type JobContext } from "./job-context.js";
import { invalidInput } from "./job-failure.js";

/** How a PARTIAL_FIT learns from its data batch after batch (Megatron's batch generators, sklearn's partial_fit loop). */
export interface Batching {
  /** Rows per partialFit call. */
  rows: number;
  /** Passes over the data. */
  epochs: number;
}

/** The most passes one job makes over its data. */
const MAX_EPOCHS = 1000;

/**
 * A job's `batch_rows` and `epochs` params, which are the job's, not the estimator's: the
 * batching (undefined when the job learns from its data in one go) and the params left for
 * the estimator. Only PARTIAL_FIT learns in batches: a FIT starts over on the whole of X.
 */
export function splitBatching(job: Job, params: Record<string, unknown>): { batching?: Batching; params: Record<string, unknown> } {
  const { batch_rows: rows, epochs, ...rest } = params;
  if (rows === undefined && epochs === undefined) return { params };
  if (job.kind !== JobKind.PARTIAL_FIT) throw invalidInput("BATCHES_NEED_PARTIAL_FIT", "params.batch_rows and params.epochs are for PARTIAL_FIT, which learns batch after batch; FIT learns from all of X at once");
  if (typeof rows !== "number" || !Number.isInteger(rows) || rows < 1) throw invalidInput("INVALID_BATCH_ROWS", `params.batch_rows must be a whole number of rows of at least 1, got ${JSON.stringify(rows)}`);
  const passes = epochs ?? 1;
  if (typeof passes !== "number" || !Number.isInteger(passes) || passes < 1 || passes > MAX_EPOCHS) {
    throw invalidInput("INVALID_EPOCHS", `params.epochs must be a whole number from 1 to ${MAX_EPOCHS}, got ${JSON.stringify(epochs)}`);
  }
  return { batching: { rows, epochs: passes }, params: rest };
}

/** A group of rows to learn from, as featureAndTargetGroups reads them. */
export interface RowGroup {
  X: RecordBatch[];
  labels?: (number | string)[];
}

/**
 * Trains `model` on each group of rows in turn, `epochs` times over (the data read anew each
 * pass, so no more than a group is held), reporting rows done and the pass as progress.
 * The rows seen, counted once per pass.
 */
export async function trainInBatches(
  ctx: JobContext,
  pool: TrainingPool,
  model: SerializedModel,
  groups: () => AsyncIterable<RowGroup>,
  batching: Batching,
  options: { classes?: (number | string)[]; totalRows?: number },
): Promise<{ model: SerializedModel; rows: number }> {
  let rows = 0;
  const rowsTotal = options.totalRows ? BigInt(options.totalRows * batching.epochs) : 0n;
  for (let epoch = 1; epoch <= batching.epochs; epoch++) {
    let seen = 0;
    for await (const group of groups()) {
      const X = new Table(group.X);
      model = await pool.partialFit(model, X, group.labels, { classes: options.classes });
      checkStopped(ctx.signal);
      seen += X.numRows;
      rows += X.numRows;
      ctx.progress.update({ epoch, rowsDone: BigInt(rows), rowsTotal, ...(rowsTotal ? {} : { fraction: (epoch - 1) / batching.epochs }) });
    }
    if (seen === 0) break;
  }
  return { model, rows };
}
