import type Database from "better-sqlite3";
import { decodeBatch } from "./event-batch-blob.js";
import { SummaryAccumulator, toEventSummary } from "./event-summaries.js";
import type { EventSummary, RankedRun, RankQuery, SummaryQuery } from "./event-store.js";
import { statementCache } from "./sqlite-readers.js";
import { runSelectorSql, sqlInList } from "./sqlite-run-selector.js";

const COLUMNS = "experiment, run, event, key, step, dt, seq, vtype, num, txt, lo, hi, numbers";
const READ_COLUMNS = "run, event, key, step, dt, vtype, num, txt, lo, hi, numbers";
type ReadRow = [run: number, event: string, key: string, step: number, dt: number, vtype: number, num: number | null, txt: string | null, lo: number | null, hi: number | null, numbers: number];
/** A summary whose latest value is a number other than NaN (stored as NULL). */
const RANKED = "vtype = 1 AND num IS NOT NULL";
/** The stored latest is replaced when the new one is later: by step, then dt, then logging order (event-summaries.ts isLater). */
const LATER = "(excluded.step > step OR (excluded.step = step AND (excluded.dt > dt OR (excluded.dt = dt AND excluded.seq > seq))))";

/**
 * Each (experiment, run, event, key)'s summary in a table of its own, kept by the append
 * that stores the events, in its transaction (MLflow's latest_metrics, and min/max/count
 * besides): reading runs' latest metrics and params costs a row per key, not a pass over
 * every event. A file from before the table gets it filled from its events once, on open.
 */
export function sqliteEventSummaries(db: Database.Database) {
  const existed = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tracking_summaries'`).get() !== undefined;
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_summaries (
    experiment TEXT NOT NULL, run INTEGER NOT NULL, event TEXT NOT NULL, key TEXT NOT NULL,
    step INTEGER NOT NULL, dt REAL NOT NULL, seq INTEGER NOT NULL, vtype INTEGER NOT NULL, num REAL, txt TEXT,
    lo REAL, hi REAL, numbers INTEGER NOT NULL,
    PRIMARY KEY (experiment, run, event, key)) WITHOUT ROWID`);
  // Runs by their latest number of a key: ordering 20,000 runs by a metric reads a page of the index, not every run's summary.
  db.exec(`CREATE INDEX IF NOT EXISTS tracking_summaries_ranked ON tracking_summaries (experiment, event, key, num, run) WHERE ${RANKED}`);
  const upsert = db.prepare(
    `INSERT INTO tracking_summaries (${COLUMNS}) VALUES (${COLUMNS.split(", ").map(() => "?").join(", ")})
     ON CONFLICT (experiment, run, event, key) DO UPDATE SET
       step = CASE WHEN ${LATER} THEN excluded.step ELSE step END,
       dt = CASE WHEN ${LATER} THEN excluded.dt ELSE dt END,
       vtype = CASE WHEN ${LATER} THEN excluded.vtype ELSE vtype END,
       num = CASE WHEN ${LATER} THEN excluded.num ELSE num END,
       txt = CASE WHEN ${LATER} THEN excluded.txt ELSE txt END,
       seq = CASE WHEN ${LATER} THEN excluded.seq ELSE seq END,
       lo = coalesce(min(lo, excluded.lo), lo, excluded.lo),
       hi = coalesce(max(hi, excluded.hi), hi, excluded.hi),
       numbers = numbers + excluded.numbers`,
  );
  const save = (summaries: SummaryAccumulator) => {
    for (const r of summaries.values()) upsert.run(r.experiment, r.run, r.event, r.key, r.step, r.dt, r.seq, r.vtype, r.num, r.txt, r.lo, r.hi, r.numbers);
  };
  const deleteExperiment = db.prepare(`DELETE FROM tracking_summaries WHERE experiment = ?`);
  const statement = statementCache(db);
  if (!existed) db.transaction(() => save(summarizeStoredEvents(db)))();

  return {
    /** Adds the summaries of events just stored (call in the transaction that stores them). */
    save,
    deleteExperiment: (experiment: string) => deleteExperiment.run(experiment),
    read(q: SummaryQuery): EventSummary[] {
      const runs = runSelectorSql(q.runs);
      const where = ["experiment = ?", `event IN (${sqlInList(q.events)})`, ...runs.where];
      const params: unknown[] = [q.experiment, ...q.events, ...runs.params];
      if (q.keys) {
        where.push(`key IN (${sqlInList(q.keys)})`);
        params.push(...q.keys);
      }
      // As arrays (.raw): better-sqlite3 builds a row as an object at about twice the cost.
      const rows = statement<ReadRow>(`SELECT ${READ_COLUMNS} FROM tracking_summaries WHERE ${where.join(" AND ")} ORDER BY run, event, key`).raw(true).all(...params);
      return rows.map(([run, event, key, step, dt, vtype, num, txt, lo, hi, numbers]) => toEventSummary({ run, event, key, step, dt, vtype, num, txt, lo, hi, numbers }));
    },
    ranked(q: RankQuery): RankedRun[] {
      const [direction, past] = q.descending ? ["DESC", "<"] : ["ASC", ">"];
      const after = q.after ? ` AND (num, run) ${past} (?, ?)` : "";
      const params: unknown[] = [q.experiment, q.event, q.key, ...(q.after ? [q.after.number, q.after.run] : []), q.limit];
      const sql = `SELECT run, num FROM tracking_summaries WHERE experiment = ? AND event = ? AND key = ? AND ${RANKED}${after} ORDER BY num ${direction}, run ${direction} LIMIT ?`;
      return statement<[number, number]>(sql)
        .raw(true)
        .all(...params)
        .map(([run, number]) => ({ run, number }));
    },
  };
}

/** The summaries of every event a file holds, rows and batches (for a file from before the table). */
function summarizeStoredEvents(db: Database.Database): SummaryAccumulator {
  const summaries = new SummaryAccumulator();
  type Row = [experiment: string, run: number, event: string, key: string, step: number, dt: number, seq: number, vtype: number, num: number | null, txt: string | null];
  for (const r of db.prepare<[], Row>(`SELECT experiment, run, event, key, step, dt, seq, vtype, num, txt FROM tracking_events`).raw(true).iterate()) {
    summaries.add(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[7] === 1 && r[8] === null ? NaN : r[8], r[9]);
  }
  type BatchRow = [experiment: string, run: number, seq: number, data: Buffer];
  for (const [experiment, run, first, data] of db.prepare<[], BatchRow>(`SELECT experiment, run, seq, data FROM tracking_event_batches`).raw(true).iterate()) {
    addBatchEvents(summaries, experiment, run, first, data);
  }
  return summaries;
}

/** A stored batch's events, numbered from its first sequence number. */
function addBatchEvents(summaries: SummaryAccumulator, experiment: string, run: number, first: number, blob: Uint8Array): void {
  summaries.addBatch(experiment, run, first, decodeBatch(blob));
}
