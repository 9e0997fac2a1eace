import { DataType, Float64, Int32, Precision, RecordBatch, Table, TimestampMillisecond, Utf8, vectorFromArray, type Vector } from "apache-arrow";
import { batchJsonLines } from "@kiln/data";
import { JobKind, type RequestLog } from "@kiln/proto/kiln/runtime/v1/runtime_pb";
import type { ExecutorDeps } from "./deps.js";

/** A log writes when this many rows wait, without waiting for its interval. */
const FLUSH_ROWS = 10_000;
/** Rows a log holds while the store is away; more are dropped (and counted). */
const MAX_PENDING_ROWS = 100_000;

export interface RequestLogStats {
  logged: bigint;
  unlogged: bigint;
}

/** What a request gave and got, as a log row set: see RequestLog in runtime.proto. */
export interface LoggedRequest {
  /** Request columns by the names the model learned them as. */
  features: { name: string; column: string }[];
  rows: Table;
  kept: string[];
  outputs: Table;
  kind: JobKind;
  modelVersion: number;
  time: Date;
}

/**
 * A deployment's requests as this executor logs them (KServe's request logger): a share of
 * them, buffered and appended every interval (or FLUSH_ROWS) to the dataset of the UTC day
 * they were answered on, so answering never waits for the store.
 */
export class RequestLogger {
  private pending: { dataset: string; table: Table }[] = [];
  private pendingRows = 0;
  private writing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly deps: Pick<ExecutorDeps, "kiln" | "logger" | "name">,
    private readonly deployment: string,
    private spec: RequestLog,
    flushMs: number,
    /** Rows written and dropped, kept by the deployment across logs (a log stopped or moved). */
    readonly stats: RequestLogStats,
  ) {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  /** Where (and how much) later requests are logged. */
  logTo(spec: RequestLog): void {
    this.spec = spec;
  }

  /** Whether this request is one of the share logged. */
  sampled(): boolean {
    return this.spec.samplePercent >= 100 || Math.random() * 100 < this.spec.samplePercent;
  }

  add(request: LoggedRequest): void {
    const rows = request.rows.numRows;
    if (this.pendingRows + rows > MAX_PENDING_ROWS) {
      this.stats.unlogged += BigInt(rows);
      return;
    }
    const project = this.deployment.slice(0, this.deployment.indexOf("/deployments/"));
    this.pending.push({ dataset: `${project}/datasets/${this.spec.dataset}-${request.time.toISOString().slice(0, 10)}`, table: logTable(request) });
    this.pendingRows += rows;
    if (this.pendingRows >= FLUSH_ROWS) void this.flush();
  }

  /** Writes what waits, one write after the other: a version per dataset and shape of rows. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const taken = this.pending;
    this.pending = [];
    this.pendingRows = 0;
    for (const group of groups(taken)) {
      const rows = group.tables.reduce((n, t) => n + t.numRows, 0);
      try {
        await this.deps.kiln.datasets.write(group.dataset, group.tables, { mode: "upsert", comment: `requests to ${this.deployment} logged by ${this.deps.name}` });
        this.stats.logged += BigInt(rows);
      } catch (e) {
        this.stats.unlogged += BigInt(rows);
        this.deps.logger.warn({ err: e, deployment: this.deployment, dataset: group.dataset, rows }, "could not log a deployment's requests; those rows are dropped");
      }
    }
  }
}

/** Runs of pending tables with one dataset and one schema, each one write. */
function groups(pending: { dataset: string; table: Table }[]): { dataset: string; tables: Table[] }[] {
  const out: { dataset: string; shape: string; tables: Table[] }[] = [];
  for (const p of pending) {
    const shape = p.table.schema.fields.map((f) => `${f.name}:${String(f.type)}`).join(",");
    const last = out.at(-1);
    if (last && last.dataset === p.dataset && last.shape === shape) last.tables.push(p.table);
    else out.push({ dataset: p.dataset, shape, tables: [p.table] });
  }
  return out;
}

const KIND_NAMES: Partial<Record<JobKind, string>> = { [JobKind.PREDICT]: "predict", [JobKind.PREDICT_PROBA]: "predict_proba", [JobKind.TRANSFORM]: "transform" };

/**
 * The rows logged for a request: its features by the model's names (numbers as Float64, so
 * requests sending ints or floats append alike), its kept columns and its answer each as a
 * JSON object per row (one column whatever the request kept or the kind asked, so every
 * request appends to one schema), when, by which version and what was asked.
 */
export function logTable(r: LoggedRequest): Table {
  const n = r.rows.numRows;
  const columns: Record<string, Vector> = {};
  for (const f of r.features) columns[f.name] = asLogged(r.rows.getChild(f.column)!);
  columns.kept = r.kept.length ? jsonColumn(new Table(Object.fromEntries(r.kept.map((k) => [k, r.rows.getChild(k)!])))) : vectorFromArray(new Array<null>(n).fill(null), new Utf8());
  columns.request_time = vectorFromArray(new Array<number>(n).fill(r.time.getTime()), new TimestampMillisecond());
  columns.model_version = vectorFromArray(new Array<number>(n).fill(r.modelVersion), new Int32());
  columns.request_kind = vectorFromArray(new Array<string>(n).fill(KIND_NAMES[r.kind] ?? JobKind[r.kind]!.toLowerCase()), new Utf8());
  columns.output = jsonColumn(r.outputs);
  return new Table(columns);
}

/** Each row of a table as a JSON object, in one text column: any columns, one schema. */
function jsonColumn(table: Table): Vector {
  return vectorFromArray(table.batches.flatMap((b: RecordBatch) => batchJsonLines(b)), new Utf8());
}

function asLogged(vector: Vector): Vector {
  if (!(DataType.isInt(vector.type) || DataType.isFloat(vector.type)) || (DataType.isFloat(vector.type) && vector.type.precision === Precision.DOUBLE)) return vector;
  return vectorFromArray(Array.from(vector, (v: unknown) => (v === null || v === undefined ? null : Number(v as number | bigint))), new Float64());
}
