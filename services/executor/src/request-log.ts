import { Bool, DataType, Float64, Int32, Table, TimestampMillisecond, Utf8, vectorFromArray, type RecordBatch } from "apache-arrow";
import { REQUEST_LOG_LABEL } from "@kiln/contracts";
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

type LoggedType = "number" | "bool" | "text";

/** Rows waiting for one dataset, of one version, with one set of features: plain values by column, made into one table when written. */
interface Pending {
  key: string;
  dataset: string;
  version: number;
  features: { name: string; type: LoggedType }[];
  values: unknown[][];
  rows: number;
}

const META_COLUMNS = ["kept", "request_time", "model_version", "request_kind", "output"];
const KIND_NAMES: Partial<Record<JobKind, string>> = { [JobKind.PREDICT]: "predict", [JobKind.PREDICT_PROBA]: "predict_proba", [JobKind.TRANSFORM]: "transform", [JobKind.EXPLAIN]: "explain" };

/**
 * A deployment's requests as this executor logs them (KServe's request logger): a share of
 * them, buffered as plain values and appended every interval (or FLUSH_ROWS) as one table
 * to the dataset of the UTC day they were answered on, so answering never waits for the
 * store. A row is the request's features by the model's names (numbers as Float64, so
 * requests sending ints or floats append alike), its kept columns and its answer each as a
 * JSON object (one column whatever the request kept or the kind asked, so every request
 * appends to one schema), when, by which version, and what was asked.
 */
export class RequestLogger {
  private pending = new Map<string, Pending>();
  /** Pending keys whose rows the day's dataset refused for their columns: they go to the version's own (see datasetOf). */
  private readonly apart = new Set<string>();
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

  add(r: LoggedRequest): void {
    const n = r.rows.numRows;
    if (this.pendingRows + n > MAX_PENDING_ROWS) {
      this.stats.unlogged += BigInt(n);
      return;
    }
    const project = this.deployment.slice(0, this.deployment.indexOf("/deployments/"));
    const dataset = `${project}/datasets/${this.spec.dataset}-${r.time.toISOString().slice(0, 10)}`;
    const features = r.features.filter((f) => !META_COLUMNS.includes(f.name)).map((f) => ({ ...f, type: loggedType(r.rows.getChild(f.column)!.type) }));
    const key = `${dataset}\n${r.modelVersion}\n${features.map((f) => `${f.name}:${f.type}`).join("\n")}`;
    let waiting = this.pending.get(key);
    if (!waiting) this.pending.set(key, (waiting = { key, dataset, version: r.modelVersion, features, values: [...features, ...META_COLUMNS].map(() => []), rows: 0 }));
    const { values } = waiting;
    features.forEach((f, c) => {
      const vector = r.rows.getChild(f.column)!;
      for (let i = 0; i < n; i++) values[c]!.push(loggedValue(vector.get(i), f.type));
    });
    const at = features.length;
    const kept = r.kept.length ? jsonLines(r.rows.select(r.kept)) : new Array<null>(n).fill(null);
    const outputs = jsonLines(r.outputs);
    const kind = KIND_NAMES[r.kind] ?? JobKind[r.kind]!.toLowerCase();
    for (let i = 0; i < n; i++) {
      values[at]!.push(kept[i]);
      values[at + 1]!.push(r.time.getTime());
      values[at + 2]!.push(r.modelVersion);
      values[at + 3]!.push(kind);
      values[at + 4]!.push(outputs[i]);
    }
    waiting.rows += n;
    this.pendingRows += n;
    if (this.pendingRows >= FLUSH_ROWS) void this.flush();
  }

  /** Writes what waits, one write after the other: a version per dataset and set of features. */
  flush(): Promise<void> {
    this.writing = this.writing.then(() => this.write());
    return this.writing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async write(): Promise<void> {
    const taken = [...this.pending.values()];
    this.pending = new Map();
    this.pendingRows = 0;
    for (const p of taken) {
      const table = logTable(p);
      const dataset = this.apart.has(p.key) ? versionDataset(p) : p.dataset;
      try {
        try {
          await this.append(dataset, table);
        } catch (e) {
          if (dataset !== p.dataset || (e as { reason?: string }).reason !== "SCHEMA_MISMATCH") throw e;
          // The day's log holds another version's features: this version's rows go to its own for the day.
          this.apart.add(p.key);
          this.deps.logger.info({ deployment: this.deployment, dataset: versionDataset(p), version: p.version }, "logging a version with other features to its own dataset for the day");
          await this.append(versionDataset(p), table);
        }
        this.stats.logged += BigInt(p.rows);
      } catch (e) {
        this.stats.unlogged += BigInt(p.rows);
        this.deps.logger.warn({ err: e, deployment: this.deployment, dataset: p.dataset, rows: p.rows }, "could not log a deployment's requests; those rows are dropped");
      }
    }
  }

  private append(dataset: string, table: Table): Promise<unknown> {
    return this.deps.kiln.datasets.write(dataset, [table], { mode: "upsert", labels: { [REQUEST_LOG_LABEL]: "true" }, comment: `requests to ${this.deployment} logged by ${this.deps.name}` });
  }
}

/** DATASET-YYYY-MM-DD.vN: a day's rows of version N when the day's log holds other features (a canary's new ones, say). */
function versionDataset(p: Pending): string {
  return `${p.dataset}.v${p.version}`;
}

function logTable(p: Pending): Table {
  const types = { number: new Float64(), bool: new Bool(), text: new Utf8() };
  const at = p.features.length;
  return new Table({
    ...Object.fromEntries(p.features.map((f, c) => [f.name, vectorFromArray(p.values[c]!, types[f.type])])),
    kept: vectorFromArray(p.values[at]!, new Utf8()),
    request_time: vectorFromArray(p.values[at + 1]! as number[], new TimestampMillisecond()),
    model_version: vectorFromArray(p.values[at + 2]! as number[], new Int32()),
    request_kind: vectorFromArray(p.values[at + 3]!, new Utf8()),
    output: vectorFromArray(p.values[at + 4]!, new Utf8()),
  });
}

function loggedType(type: DataType): LoggedType {
  if (DataType.isInt(type) || DataType.isFloat(type)) return "number";
  return DataType.isBool(type) ? "bool" : "text";
}

function loggedValue(v: unknown, type: LoggedType): unknown {
  if (v === null || v === undefined) return null;
  return type === "number" ? Number(v as number | bigint) : type === "bool" ? v : String(v);
}

/** Each row of a table as a JSON object. */
function jsonLines(table: Table): string[] {
  return table.batches.flatMap((b: RecordBatch) => batchJsonLines(b));
}
