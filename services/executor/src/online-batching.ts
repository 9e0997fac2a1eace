import type { Table } from "apache-arrow";

export interface OnlineBatchingOptions {
  /** Rows run together at most (a request with more runs alone). */
  maxRows: number;
  /** How long a request may wait for others when a run could start now (0: it starts at once). */
  maxDelayMs: number;
  /** Runs in flight at once. */
  concurrency: number;
}

interface Waiting {
  key: string;
  table: Table;
  since: number;
  resolve: (out: Table) => void;
  reject: (e: unknown) => void;
}

/** Runs the rows of several requests of one shape (`key`) in one model run, one output table per request. */
export type RunTogether = (key: string, tables: Table[]) => Promise<Table[]>;

/**
 * Dynamic batching, as Triton's and KServe's batchers do it: a request runs at once when a
 * run slot is free (or after `maxDelayMs`, unless `maxRows` rows are waiting sooner); the
 * requests that come while every slot is busy go together into the next run, as many as
 * fit in `maxRows`. A model that is idle adds no latency; a busy one runs fewer, larger
 * batches, which costs less per row.
 */
export class OnlineBatching {
  private readonly queue: Waiting[] = [];
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Model runs so far (a batch run again request by request counts each). */
  runs = 0;

  constructor(
    private readonly run: RunTogether,
    private readonly options: OnlineBatchingOptions,
  ) {}

  submit(key: string, table: Table): Promise<Table> {
    return new Promise<Table>((resolve, reject) => {
      this.queue.push({ key, table, since: Date.now(), resolve, reject });
      this.pump();
    });
  }

  /** Requests waiting for a run. */
  get waiting(): number {
    return this.queue.length;
  }

  private pump(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.running < this.options.concurrency && this.queue.length > 0) {
      const wait = this.waitFor(this.queue[0]!);
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        return;
      }
      const batch = this.take();
      this.running++;
      void this.execute(batch).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  /** How much longer the first request waits for others to join it. */
  private waitFor(first: Waiting): number {
    if (this.options.maxDelayMs <= 0) return 0;
    let rows = 0;
    for (const w of this.queue) if (w.key === first.key) rows += w.table.numRows;
    if (rows >= this.options.maxRows) return 0;
    return first.since + this.options.maxDelayMs - Date.now();
  }

  /** The first request and those after it of the same key, while they fit in maxRows. */
  private take(): Waiting[] {
    const first = this.queue.shift()!;
    const batch = [first];
    let rows = first.table.numRows;
    for (let i = 0; i < this.queue.length; ) {
      const w = this.queue[i]!;
      if (w.key === first.key && rows + w.table.numRows <= this.options.maxRows) {
        batch.push(w);
        rows += w.table.numRows;
        this.queue.splice(i, 1);
      } else i++;
    }
    return batch;
  }

  private async execute(batch: Waiting[]): Promise<void> {
    this.runs++;
    try {
      const outs = await this.run(batch[0]!.key, batch.map((w) => w.table));
      batch.forEach((w, i) => w.resolve(outs[i]!));
    } catch (e) {
      // One bad request must not fail the others it was batched with: each runs again alone.
      if (batch.length === 1) return batch[0]!.reject(e);
      await Promise.all(batch.map((w) => this.execute([w])));
    }
  }
}
