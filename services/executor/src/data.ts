import type { RecordBatch, Schema } from "apache-arrow";
import { compileFilter, parseFilter, selectRows, type RowFilter } from "@kiln/data";
import { DatasetKind, type DatasetVersion } from "@kiln/proto/kiln/store/v1/store_pb";
import type { JobInput } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { LentBatches, ReadOptions } from "@kiln/sdk";
import type { ExecutorDeps } from "./deps.js";
import type { ColumnInfo } from "./features.js";
import { failedPrecondition } from "./job-failure.js";

/**
 * A job input as messages name it: its dataset, or "the local x" for data the client sent
 * (stored as a temporary dataset, whose name the user never saw), with its filter if asked.
 */
export function inputName(input: JobInput, which: "x" | "y", withFilter = false): string {
  const name = input.temporary ? `the local ${which}` : input.dataset;
  return withFilter && input.filter ? `${name} where ${input.filter}` : name;
}

/** A job input's version header (columns, row count), without reading its rows. */
export async function describeInput(deps: ExecutorDeps, input: JobInput, which: "x" | "y"): Promise<{ version: DatasetVersion; columns: ColumnInfo[] }> {
  const { version } = await deps.store.getDatasetVersion({ name: `${input.dataset}/versions/${input.version}` });
  if (version!.kind !== DatasetKind.TABLE) {
    throw failedPrecondition("NOT_A_TABLE", `${inputName(input, which)} is a ${DatasetKind[version!.kind].toLowerCase()} dataset; jobs read tables (put tensors as tables of columns)`);
  }
  const columns = version!.fields.map((f) => ({ name: f.name, type: f.type }));
  for (const name of input.columns) {
    if (!columns.some((c) => c.name === name)) throw failedPrecondition("COLUMN_MISSING", `column "${name}" is not in ${inputName(input, which)} (columns: ${columns.map((c) => c.name).join(", ")})`);
  }
  return { version: version!, columns };
}

/**
 * The columns a job reads to use `used`: every column (the stored chunks whole) when that
 * costs less than the store's projection, else just those. A projection is decoded, cut
 * and re-encoded by the store and comes over RPC; whole chunks come in bulk, straight from
 * the blob store for an executor that reads it. A million rows through a linear model on
 * the embedded executor: 4 float64 columns of 5 took 45–85 ms read whole against 215–343
 * ms projected; beside a 200-character text column, 125–207 against 469–597. Over HTTP
 * what is left out is bytes on the network: chunks are read whole when the columns left
 * out are at most as wide as those used. A filter is the store's to apply: its rows come
 * projected.
 */
export function columnsToRead(all: ColumnInfo[], used: string[], input: JobInput, localChunks: boolean): string[] {
  const stored = all.map((c) => c.name);
  if (input.filter) return used;
  if (localChunks || used.length === stored.length) return stored;
  const width = (columns: ColumnInfo[]) => columns.reduce((sum, c) => sum + bytesPerValue(c.type), 0);
  const usedWidth = width(all.filter((c) => used.includes(c.name)));
  return width(all.filter((c) => !used.includes(c.name))) <= usedWidth ? stored : used;
}

/** A rough width of a column's values by its type name (text and other variable widths as 32 bytes). */
function bytesPerValue(type: string): number {
  const bits = /^(?:Int|Uint|Float)(8|16|32|64)$/.exec(type)?.[1];
  if (bits) return Number(bits) / 8;
  if (type === "Bool") return 1;
  if (/^(Timestamp|Date)/.test(type)) return 8;
  return 32;
}

/** The input's rows as record batches, as they arrive from the store. */
export function readInput(deps: ExecutorDeps, input: JobInput, columns: string[], all?: ColumnInfo[]): AsyncGenerator<RecordBatch> {
  return deps.kiln.datasets.read(input.dataset, readOptions(input, columns, all));
}

/** The input's rows a stored chunk at a time, the chunk's memory on loan until released (see Datasets.readChunks). */
export function readInputChunks(deps: ExecutorDeps, input: JobInput, columns: string[], all?: ColumnInfo[]): AsyncGenerator<LentBatches> {
  return deps.kiln.datasets.readChunks(input.dataset, readOptions(input, columns, all));
}

/**
 * A job's rows of the columns it uses, a stored chunk at a time (see columnsToRead). An
 * executor that reads the blob store filters whole chunks itself rather than have the store
 * filter, re-encode and send the rows over RPC.
 */
export function readJobRows(deps: ExecutorDeps, input: JobInput, used: string[], all: ColumnInfo[], schema: Schema): AsyncIterable<LentBatches> {
  const plan = readPlan(deps, input, used, all, schema);
  const chunks = readInputChunks(deps, plan.input, plan.columns, all);
  return plan.filter ? filteredHere(chunks, plan.filter) : chunks;
}

/** What a job asks the store for, and the filter it applies itself (see readJobRows). */
function readPlan(deps: ExecutorDeps, input: JobInput, used: string[], all: ColumnInfo[], schema: Schema): { input: JobInput; columns: string[]; filter?: RowFilter } {
  if (!input.filter || !deps.localChunks) return { input, columns: columnsToRead(all, used, input, deps.localChunks) };
  return { input: { ...input, filter: "" } as JobInput, columns: all.map((c) => c.name), filter: compileFilter(parseFilter(input.filter), schema) };
}

async function* filteredHere(chunks: AsyncIterable<LentBatches>, filter: RowFilter): AsyncGenerator<LentBatches> {
  for await (const { batches, release } of chunks) {
    const kept = batches.map((b) => selectRows(b, filter(b)));
    // Rows picked out are copies, so the chunk's memory goes back now; a batch that kept every row is the chunk's own.
    if (kept.some((k, i) => k === batches[i])) {
      yield { batches: kept, release };
    } else {
      release();
      yield { batches: kept, release: () => {} };
    }
  }
}

function readOptions(input: JobInput, columns: string[], all?: ColumnInfo[]): ReadOptions {
  // Every column in stored order reads the stored chunks as they are (fetched by reference, in bulk).
  const everything = all && all.length === columns.length && all.every((c, i) => c.name === columns[i]);
  return { version: Number(input.version), columns: everything ? undefined : columns, filter: input.filter || undefined };
}

/** A slice of a chunk's rows; the chunk's memory is released once every one of its slices has called `release`. */
export interface Slice {
  batch: RecordBatch;
  release: () => void;
}

/**
 * Splits chunks' batches into slices so results stream in steady pieces: the first slice
 * has about `firstRows` rows, each next one up to twice as many as the one before, and
 * none more than `rows`; the rest of a batch goes with its last slice when it is at most
 * half a slice more. A small first slice brings the first results back sooner.
 */
export async function* sliceChunks(chunks: AsyncIterable<LentBatches>, rows: number, firstRows = rows): AsyncGenerator<Slice> {
  let limit = Math.min(rows, firstRows);
  for await (const { batches, release } of chunks) {
    const slices: RecordBatch[] = [];
    for (const batch of batches) {
      for (let at = 0; at < batch.numRows; limit = Math.min(rows, limit * 2)) {
        // A rest up to half again the slice goes along, rather than trail as a sliver (uneven runs leave a worker idle).
        const end = batch.numRows - at <= Math.min(rows, limit * 1.5) ? batch.numRows : at + limit;
        slices.push(at === 0 && end === batch.numRows ? batch : batch.slice(at, end));
        at = end;
      }
    }
    if (slices.length === 0) release();
    let held = slices.length;
    for (const batch of slices) {
      let holding = true; // a slice releases once, however often it is called
      yield {
        batch,
        release: () => {
          if (holding && --held === 0) release();
          holding = false;
        },
      };
    }
  }
}

/** One column's values (targets, labels), all of them. */
export async function readValues(deps: ExecutorDeps, input: JobInput, column: string): Promise<(number | string)[]> {
  const values: (number | string)[] = [];
  for await (const batch of readInput(deps, input, [column])) for (const v of columnValues(batch, column)) values.push(v);
  return values;
}

/**
 * A fit's features, and its targets when they are a column of the same rows (X and Y one
 * dataset, version and filter, as `--target` makes them), in one read of whole chunks when
 * that is cheaper (see columnsToRead and readJobRows) instead of one read for each.
 */
export async function readFeaturesAndTargets(
  deps: ExecutorDeps,
  x: JobInput,
  features: string[],
  all: ColumnInfo[],
  schema: Schema,
  y?: { input: JobInput; column: string },
  checkStopped = () => {},
): Promise<{ X: RecordBatch[]; labels?: (number | string)[] }> {
  for await (const group of featureAndTargetGroups(deps, x, features, all, schema, y, Infinity, checkStopped)) return group;
  return { X: [], labels: y ? [] : undefined };
}

/**
 * The same rows in groups of `rows` (the last one smaller), read as they stream in, so a
 * fit can learn batch after batch from more data than it could hold: features and targets
 * side by side, whether the targets are a column of the same rows or another dataset's
 * (read alongside, a group at a time). X and Y of different lengths is FailedPrecondition
 * LENGTH_MISMATCH, found when the shorter one ends.
 */
export async function* featureAndTargetGroups(
  deps: ExecutorDeps,
  x: JobInput,
  features: string[],
  all: ColumnInfo[],
  schema: Schema,
  y: { input: JobInput; column: string } | undefined,
  rows: number,
  checkStopped = () => {},
): AsyncGenerator<{ X: RecordBatch[]; labels?: (number | string)[] }> {
  const together = y && sameRows(x, y.input);
  const used = together ? [...features, y.column] : features;
  const plan = readPlan(deps, x, used, all, schema);
  async function* filtered(): AsyncGenerator<RecordBatch> {
    for await (const read of readInput(deps, plan.input, plan.columns, all)) {
      checkStopped();
      yield plan.filter ? selectRows(read, plan.filter(read)) : read;
    }
  }
  const targets = y && !together ? rowGroups(readInput(deps, y.input, [y.column]), rows)[Symbol.asyncIterator]() : undefined;
  let xRows = 0;
  let yRows = 0;
  for await (const group of rowGroups(filtered(), rows)) {
    xRows += countRows(group);
    const X = group.map((batch) => pickColumns(batch, features));
    if (!y) {
      yield { X };
      continue;
    }
    const labels = together ? group.flatMap((batch) => columnValues(batch, y.column)) : await nextLabels(targets!, y.column);
    yRows += labels.length;
    if (labels.length !== countRows(group)) break;
    yield { X, labels };
  }
  if (targets) for (let next = await targets.next(); !next.done; next = await targets.next()) yRows += countRows(next.value);
  // X without rows is the fit's to refuse (NO_ROWS), whatever Y has.
  if (y && xRows > 0 && xRows !== yRows) throw failedPrecondition("LENGTH_MISMATCH", `x has ${xRows} rows and y has ${yRows}`);
}

async function nextLabels(targets: AsyncIterator<RecordBatch[]>, column: string): Promise<(number | string)[]> {
  const next = await targets.next();
  return next.done ? [] : next.value.flatMap((batch) => columnValues(batch, column));
}

const countRows = (batches: readonly RecordBatch[]) => batches.reduce((n, b) => n + b.numRows, 0);

/** Batches regrouped into groups of exactly `rows` rows (the last one fewer; Infinity: one group of all), slicing without copying. */
async function* rowGroups(batches: AsyncIterable<RecordBatch>, rows: number): AsyncGenerator<RecordBatch[]> {
  let group: RecordBatch[] = [];
  let n = 0;
  for await (const batch of batches) {
    for (let at = 0; at < batch.numRows; ) {
      const take = Math.min(rows - n, batch.numRows - at);
      group.push(at === 0 && take === batch.numRows ? batch : batch.slice(at, at + take));
      at += take;
      n += take;
      if (n === rows) {
        yield group;
        group = [];
        n = 0;
      }
    }
  }
  if (n > 0 || (group.length === 0 && rows === Infinity)) yield group;
}

/** Whether two inputs are the same rows: one dataset version, one filter (X and Y of `--target`). */
export function sameRows(a: JobInput, b: JobInput): boolean {
  return a.dataset === b.dataset && a.version === b.version && a.filter === b.filter;
}

/** Some of a batch's columns, in this order, without copying them. */
export function pickColumns(batch: RecordBatch, names: string[]): RecordBatch {
  if (names.length === batch.numCols && names.every((n, i) => batch.schema.fields[i]!.name === n)) return batch;
  // Not batch.select: Arrow JS 21 leaves the picked columns at their old places in the batch (holes before them).
  return batch.selectAt(names.map((name) => batch.schema.fields.findIndex((f) => f.name === name))) as RecordBatch;
}

/** A column's values as plain numbers and strings (targets, labels). */
export function columnValues(batch: RecordBatch, column: string): (number | string)[] {
  const vector = batch.getChild(column)!;
  const values = new Array<number | string>(batch.numRows);
  for (let i = 0; i < batch.numRows; i++) {
    const v = vector.get(i);
    values[i] = typeof v === "bigint" ? Number(v) : (v as number | string);
  }
  return values;
}
