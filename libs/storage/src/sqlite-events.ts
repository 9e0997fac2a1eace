import Database from "better-sqlite3";
import type { EventFilter } from "./event-filter.js";
import { checkEventFilter, intersectKinds, requiredEventKinds } from "./event-filter.js";
import { decodeBatch, encodeBatch } from "./event-batch-blob.js";
import { SummaryAccumulator } from "./event-summaries.js";
import { sqliteEventSummaries } from "./sqlite-event-summaries.js";
import { SqliteReaders } from "./sqlite-readers.js";
import { runSelectorSql, sqlInList } from "./sqlite-run-selector.js";
import { matchesFilter, type EventValues } from "./event-filter-eval.js";
import { EventPageBuilder } from "./event-page.js";
import { EVENT_VALUE_TYPES, type EventBatch, type EventQuery, type EventStore, type TrackedEvent } from "./event-store.js";

/** The columns a query reads, in the order of EventPageBuilder.add, then seq; `.raw()` returns rows as such arrays. */
type Row = [run: number, event: string, dt: number, node: string, step: number, key: string, vtype: number, num: number | null, txt: string | null, seq: number];
const ROW_COLUMNS = "run, event, dt, node, step, key, vtype, num, txt, seq";
type BatchRow = [seq: number, run: number, data: Buffer];

/**
 * Tracking events in a SQLite file of their own. Events logged one by one are a row each;
 * an append is one transaction that skips event ids already stored, so retries are
 * no-ops. A columnar batch (the SDK's) is one row of its own holding its columns as a blob
 * (event-batch-blob.ts), claimed once by its batch id: a row per event cost ~2 µs of
 * SQLite each, which bound the SDK's throughput. Both kinds share one sequence (a batch
 * takes a range), so a query merges them in logging order; filters run as SQL on rows and
 * in JavaScript with the same semantics on batches (event-filter-eval.ts). SQLite stores
 * NaN as NULL, so a number event with a NULL number reads back as NaN.
 */
export function openSqliteEventStore(path: string): EventStore {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  // Events from batches have no id of their own (the batch is the unit of idempotency),
  // so they stay out of the unique index: inserts run at about twice the speed.
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_events (
    seq INTEGER PRIMARY KEY, id TEXT, experiment TEXT NOT NULL, run INTEGER NOT NULL,
    event TEXT NOT NULL, dt REAL NOT NULL, node TEXT NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL,
    vtype INTEGER NOT NULL, num REAL, txt TEXT)`);
  db.exec(`CREATE UNIQUE INDEX IF NOT EXISTS tracking_events_by_id ON tracking_events (id) WHERE id IS NOT NULL`);
  db.exec(`CREATE INDEX IF NOT EXISTS tracking_events_by_run ON tracking_events (experiment, run, seq)`);
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_batches (batch_id TEXT PRIMARY KEY, experiment TEXT NOT NULL) WITHOUT ROWID`);
  // seq: the first of the batch's range of sequence numbers.
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_event_batches (seq INTEGER PRIMARY KEY, experiment TEXT NOT NULL, run INTEGER NOT NULL, events INTEGER NOT NULL, data BLOB NOT NULL)`);
  db.exec(`CREATE INDEX IF NOT EXISTS tracking_event_batches_by_run ON tracking_event_batches (experiment, run, seq)`);
  // The event kinds each batch holds (a JSON list), so that a query for other kinds skips it unread; a batch from
  // before has none (read). A table of its own: a column after the blob would be read through the blob's pages.
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_batch_kinds (seq INTEGER PRIMARY KEY, kinds TEXT NOT NULL)`);
  const summaries = sqliteEventSummaries(db);
  // Cursors on readers of their own: writes go on meanwhile (WAL), and no connection is busy when another query starts.
  const readers = new SqliteReaders(path);
  const lastRowSeq = db.prepare<[], { seq: number }>(`SELECT seq FROM tracking_events ORDER BY seq DESC LIMIT 1`);
  // Not "AS seq": ORDER BY would then sort by the sum, a scan of every batch on every append.
  const lastBatchSeq = db.prepare<[], { last: number }>(`SELECT seq + events - 1 AS last FROM tracking_event_batches ORDER BY seq DESC LIMIT 1`);
  /** The next free sequence number, past rows and batch ranges alike (read inside a write transaction). */
  const nextSeq = () => Math.max(lastRowSeq.get()?.seq ?? 0, lastBatchSeq.get()?.last ?? 0) + 1;
  const insertEvents = eventInserter(db);
  const insertedSeqs = db.prepare<[number, number], number>(`SELECT seq FROM tracking_events WHERE seq BETWEEN ? AND ?`).pluck();
  const appendAll = db.transaction((events: TrackedEvent[]) => {
    const first = nextSeq();
    const inserted = insertEvents(events, first);
    // The rows stored are those numbered in the range (an id seen before took none), all of them unless some were.
    const seqs = inserted === events.length ? events.map((_, i) => first + i) : insertedSeqs.all(first, first + events.length - 1);
    const added = new SummaryAccumulator();
    for (const seq of seqs) {
      const e = events[seq - first]!;
      added.add(e.experiment, e.run, e.event, e.key, e.step, e.dt, seq, EVENT_VALUE_TYPES.indexOf(e.valueType), e.valueType === "number" ? e.number! : null, e.text ?? null);
    }
    summaries.save(added);
    return inserted;
  });
  const claimBatch = db.prepare(`INSERT OR IGNORE INTO tracking_batches (batch_id, experiment) VALUES (?, ?)`);
  const insertBatch = db.prepare(`INSERT INTO tracking_event_batches (seq, experiment, run, events, data) VALUES (?, ?, ?, ?, ?)`);
  const insertKinds = db.prepare(`INSERT INTO tracking_batch_kinds (seq, kinds) VALUES (?, ?)`);
  const appendColumns = db.transaction((b: EventBatch) => {
    const n = b.event.length;
    if (claimBatch.run(b.batchId, b.experiment).changes === 0) return 0;
    if (n > 0) {
      const first = nextSeq();
      const blob = encodeBatch(b);
      const kinds = [...new Set(Array.from(b.event, (i) => b.strings[i]!))];
      insertBatch.run(first, b.experiment, b.run, n, blob);
      insertKinds.run(first, JSON.stringify(kinds));
      const added = new SummaryAccumulator();
      added.addBatch(b.experiment, b.run, first, b);
      summaries.save(added);
    }
    return n;
  });
  const deleteAll = db.prepare(`DELETE FROM tracking_events WHERE experiment = ?`);
  const countBatchEvents = db.prepare<[string], { n: number | null }>(`SELECT sum(events) AS n FROM tracking_event_batches WHERE experiment = ?`);
  const deleteBatchEvents = db.prepare(`DELETE FROM tracking_event_batches WHERE experiment = ?`);
  const deleteBatches = db.prepare(`DELETE FROM tracking_batches WHERE experiment = ?`);
  const deleteKinds = db.prepare(`DELETE FROM tracking_batch_kinds WHERE seq IN (SELECT seq FROM tracking_event_batches WHERE experiment = ?)`);
  const deleteExperiment = db.transaction((experiment: string) => {
    const fromBatches = countBatchEvents.get(experiment)?.n ?? 0;
    summaries.deleteExperiment(experiment);
    deleteKinds.run(experiment);
    deleteBatchEvents.run(experiment);
    deleteBatches.run(experiment);
    return deleteAll.run(experiment).changes + fromBatches;
  });

  return {
    async append(events) {
      const accepted = appendAll(events);
      return { accepted, duplicates: events.length - accepted };
    },
    async appendBatch(batch) {
      const accepted = appendColumns(batch);
      return { accepted, duplicates: batch.event.length - accepted };
    },
    async *query(q: EventQuery) {
      const runs = runSelectorSql(q.runs);
      const where = ["experiment = ?", ...runs.where];
      const params: unknown[] = [q.experiment, ...runs.params];
      const batchWhere = [...where];
      const batchParams = [...params];
      const filter = q.filter ? checkEventFilter(q.filter) : undefined;
      if (q.events) {
        where.push(`event IN (${sqlInList(q.events)})`);
        params.push(...q.events);
      }
      // Batches holding none of the kinds asked for, or that the filter requires, are skipped unread.
      const required = intersectKinds(q.events, filter && requiredEventKinds(filter));
      const kinds = required && new Set(required);
      if (required) {
        batchWhere.push(`(k.kinds IS NULL OR EXISTS (SELECT 1 FROM json_each(k.kinds) WHERE value IN (${sqlInList(required)})))`);
        batchParams.push(...required);
      }
      if (filter) {
        const compiled = toSql(filter);
        where.push(`(${compiled.sql})`);
        params.push(...compiled.params);
      }
      const page = new EventPageBuilder(q.pageSize ?? 10_000);
      const rowReader = readers.take();
      const batchReader = readers.take();
      let rows: IterableIterator<Row> | undefined;
      let batches: IterableIterator<BatchRow> | undefined;
      try {
        rows = rowReader.statement<Row>(`SELECT ${ROW_COLUMNS} FROM tracking_events WHERE ${where.join(" AND ")} ORDER BY run, seq`).raw(true).iterate(...params);
        batches = batchReader.statement<BatchRow>(`SELECT b.seq, b.run, b.data FROM tracking_event_batches b LEFT JOIN tracking_batch_kinds k ON k.seq = b.seq WHERE ${batchWhere.join(" AND ")} ORDER BY b.run, b.seq`).raw(true).iterate(...batchParams);
        let row = rows.next();
        let batch = batches.next();
        // Merged in (run, seq) order; no row's seq falls inside a batch's range.
        while (!row.done || !batch.done) {
          if (!batch.done && (row.done || batch.value[1] < row.value[0] || (batch.value[1] === row.value[0] && batch.value[0] < row.value[9]))) {
            for (const _ of addBatch(page, batch.value[1], batch.value[2], filter, kinds)) yield page.take();
            batch = batches.next();
          } else {
            // Rows go straight into columns: none outlives its step of the cursor.
            const r = row.value!;
            page.add(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
            if (page.full) yield page.take();
            row = rows.next();
          }
        }
        if (page.length) yield page.take();
      } finally {
        rows?.return?.();
        batches?.return?.();
        readers.give(rowReader);
        readers.give(batchReader);
      }
    },
    async summarize(q) {
      return summaries.read(q);
    },
    async ranked(q) {
      return summaries.ranked(q);
    },
    async deleteExperiment(experiment) {
      return deleteExperiment(experiment);
    },
    async close() {
      readers.close();
      db.close();
    },
  };
}

/** Adds a stored batch's events of the kinds asked for that pass the filter to the page; yields each time the page is full. */
function* addBatch(page: EventPageBuilder, run: number, blob: Buffer, filter: EventFilter | undefined, kinds: Set<string> | undefined): Generator<void> {
  const b = decodeBatch(blob);
  const values: EventValues = { run, event: "", dt: 0, node: "", step: 0, key: "", vtype: 0, num: null, txt: null };
  let t = 0;
  for (let i = 0; i < b.length; i++) {
    const vtype = b.valueType[i]!;
    const number = b.number[i]!;
    const text = vtype >= 2 ? b.text[t++]! : null;
    const event = b.strings[b.event[i]!]!;
    const node = b.strings[b.node[i]!]!;
    const key = b.strings[b.key[i]!]!;
    if (kinds && !kinds.has(event)) continue;
    if (filter) {
      values.event = event;
      values.dt = b.dt[i]!;
      values.node = node;
      values.step = b.step[i]!;
      values.key = key;
      values.vtype = vtype;
      values.num = vtype === 1 && !Number.isNaN(number) ? number : null;
      values.txt = text;
      if (!matchesFilter(filter, values)) continue;
    }
    page.add(run, event, b.dt[i]!, node, b.step[i]!, key, vtype, number, text);
    if (page.full) yield;
  }
}

const SQL_OPS: Record<string, string> = { "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=" };

function toSql(f: EventFilter): { sql: string; params: unknown[] } {
  switch (f.type) {
    case "and":
    case "or": {
      const l = toSql(f.left);
      const r = toSql(f.right);
      return { sql: `(${l.sql}) ${f.type.toUpperCase()} (${r.sql})`, params: [...l.params, ...r.params] };
    }
    case "not": {
      const inner = toSql(f.expr);
      return { sql: `NOT (${inner.sql})`, params: inner.params };
    }
    case "cond":
      return condition(f);
  }
}

function condition(c: Extract<EventFilter, { type: "cond" }>): { sql: string; params: unknown[] } {
  if (c.op === "isNull") return { sql: "vtype = 0", params: [] };
  if (c.op === "notNull") return { sql: "vtype != 0", params: [] };
  const list = (column: string, values: unknown[]) => {
    const marks = values.map(() => "?").join(",");
    return { sql: `${column} ${c.op === "in" ? "IN" : "NOT IN"} (${marks})`, params: values };
  };
  if (c.column !== "value") {
    if (c.op === "in" || c.op === "notIn") return list(c.column, c.values);
    return { sql: `${c.column} ${SQL_OPS[c.op]} ?`, params: [c.values[0]] };
  }
  // value: numbers compare with number events, strings with text and JSON events.
  const parts = c.values.map((v) => {
    const column = typeof v === "number" ? "num" : "txt";
    const kinds = typeof v === "number" ? "vtype = 1" : "vtype IN (2, 3)";
    const op = c.op === "in" ? "=" : c.op === "notIn" ? "!=" : SQL_OPS[c.op];
    return { sql: `(${kinds} AND ${column} ${op} ?)`, params: [v] };
  });
  const joiner = c.op === "notIn" ? " AND " : " OR ";
  return { sql: parts.map((p) => p.sql).join(joiner), params: parts.flatMap((p) => p.params) };
}

const INSERT_COLUMNS = "seq, id, experiment, run, event, dt, node, step, key, vtype, num, txt";
const VALUES_PER_ROW = 12;
/** Rows per INSERT: one statement of 16 rows costs less than half of 16 statements of one (3.5 → 1.6 µs a row here). */
const ROWS_PER_INSERT = 16;

/**
 * Inserts events as rows numbered from `firstSeq` (skipping ids already stored),
 * ROWS_PER_INSERT to a statement; returns how many were inserted.
 */
function eventInserter(db: Database.Database) {
  const statement = (rows: number) =>
    // Only a seen event id is skipped: a clash of sequence numbers would be a bug, and fails loudly.
    db.prepare(
      `INSERT INTO tracking_events (${INSERT_COLUMNS}) VALUES ${Array(rows).fill(`(${Array(VALUES_PER_ROW).fill("?").join(", ")})`).join(", ")} ON CONFLICT (id) WHERE id IS NOT NULL DO NOTHING`,
    );
  const many = statement(ROWS_PER_INSERT);
  const one = statement(1);
  const values: unknown[] = new Array(ROWS_PER_INSERT * VALUES_PER_ROW);
  const put = (at: number, seq: number, e: TrackedEvent) => {
    values[at] = seq;
    values[at + 1] = e.id;
    values[at + 2] = e.experiment;
    values[at + 3] = e.run;
    values[at + 4] = e.event;
    values[at + 5] = e.dt;
    values[at + 6] = e.node;
    values[at + 7] = e.step;
    values[at + 8] = e.key;
    values[at + 9] = EVENT_VALUE_TYPES.indexOf(e.valueType);
    values[at + 10] = e.valueType === "number" && !Number.isNaN(e.number) ? e.number! : null;
    values[at + 11] = e.text ?? null;
  };
  return (events: TrackedEvent[], firstSeq: number): number => {
    let inserted = 0;
    let i = 0;
    for (; i + ROWS_PER_INSERT <= events.length; i += ROWS_PER_INSERT) {
      for (let k = 0; k < ROWS_PER_INSERT; k++) put(k * VALUES_PER_ROW, firstSeq + i + k, events[i + k]!);
      inserted += many.run(values).changes;
    }
    for (; i < events.length; i++) {
      put(0, firstSeq + i, events[i]!);
      inserted += one.run(values.slice(0, VALUES_PER_ROW)).changes;
    }
    return inserted;
  };
}
