import Database from "better-sqlite3";
import type { EventFilter } from "./event-filter.js";
import { checkEventFilter } from "./event-filter.js";
import type { EventQuery, EventStore, EventValueType, TrackedEvent } from "./event-store.js";

const TYPES: EventValueType[] = ["none", "number", "text", "json", "artifact"];

interface Row {
  seq: number;
  id: string;
  experiment: string;
  run: number;
  event: string;
  dt: number;
  node: string;
  step: number;
  key: string;
  vtype: number;
  num: number | null;
  txt: string | null;
}

/**
 * Tracking events in a SQLite file of their own, one row each. A batch is one
 * transaction of INSERT OR IGNORE on the unique event id: retries are no-ops. SQLite
 * stores NaN as NULL, so a number event with a NULL number reads back as NaN.
 */
export function openSqliteEventStore(path: string): EventStore {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  db.exec(`CREATE TABLE IF NOT EXISTS tracking_events (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, experiment TEXT NOT NULL, run INTEGER NOT NULL,
    event TEXT NOT NULL, dt REAL NOT NULL, node TEXT NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL,
    vtype INTEGER NOT NULL, num REAL, txt TEXT)`);
  db.exec(`CREATE INDEX IF NOT EXISTS tracking_events_by_run ON tracking_events (experiment, run, seq)`);
  const insert = db.prepare(
    `INSERT OR IGNORE INTO tracking_events (id, experiment, run, event, dt, node, step, key, vtype, num, txt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const appendAll = db.transaction((events: TrackedEvent[]) => {
    let accepted = 0;
    for (const e of events) {
      const number = e.valueType === "number" && !Number.isNaN(e.number) ? e.number! : null;
      accepted += insert.run(e.id, e.experiment, e.run, e.event, e.dt, e.node, e.step, e.key, TYPES.indexOf(e.valueType), number, e.text ?? null).changes;
    }
    return accepted;
  });
  const deleteAll = db.prepare(`DELETE FROM tracking_events WHERE experiment = ?`);

  return {
    async append(events) {
      const accepted = appendAll(events);
      return { accepted, duplicates: events.length - accepted };
    },
    async *query(q: EventQuery) {
      const where = ["experiment = ?"];
      const params: unknown[] = [q.experiment];
      if ("runs" in q.runs) {
        where.push(`run IN (${q.runs.runs.map(() => "?").join(",") || "NULL"})`);
        params.push(...q.runs.runs);
      } else if ("from" in q.runs) {
        where.push("run BETWEEN ? AND ?");
        params.push(q.runs.from, q.runs.to);
      }
      if (q.filter) {
        const compiled = toSql(checkEventFilter(q.filter));
        where.push(`(${compiled.sql})`);
        params.push(...compiled.params);
      }
      const pageSize = q.pageSize ?? 10_000;
      const page = db.prepare<unknown[], Row>(
        `SELECT * FROM tracking_events WHERE ${where.join(" AND ")} AND (run > ? OR (run = ? AND seq > ?)) ORDER BY run, seq LIMIT ${pageSize}`,
      );
      let after = { run: -1, seq: 0 };
      for (;;) {
        const rows = page.all(...params, after.run, after.run, after.seq);
        if (rows.length === 0) return;
        yield rows.map(toEvent);
        if (rows.length < pageSize) return;
        const last = rows[rows.length - 1]!;
        after = { run: last.run, seq: last.seq };
      }
    },
    async deleteExperiment(experiment) {
      return deleteAll.run(experiment).changes;
    },
    async close() {
      db.close();
    },
  };
}

function toEvent(r: Row): TrackedEvent {
  const valueType = TYPES[r.vtype] ?? "none";
  const e: TrackedEvent = { id: r.id, experiment: r.experiment, run: r.run, event: r.event, dt: r.dt, node: r.node, step: r.step, key: r.key, valueType };
  if (valueType === "number") e.number = r.num ?? NaN;
  else if (r.txt !== null) e.text = r.txt;
  return e;
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
