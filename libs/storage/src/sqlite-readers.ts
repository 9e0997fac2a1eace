import Database from "better-sqlite3";

/**
 * Read-only connections to one SQLite file, for cursors that each need a connection of
 * their own (a connection runs one cursor at a time), kept open between queries: opening
 * one with its pragma, preparing its statements and closing it cost about 0.6 ms a query,
 * as much as reading a run's metric history. Each keeps its statements by SQL text.
 */
export class SqliteReaders {
  private readonly idle: SqliteReader[] = [];
  private closed = false;

  constructor(
    private readonly path: string,
    private readonly maxIdle = 8,
  ) {}

  take(): SqliteReader {
    return this.idle.pop() ?? new SqliteReader(this.path);
  }

  /** Takes a reader back when its cursors are done (returned): kept for the next query, or closed. */
  give(reader: SqliteReader): void {
    if (this.closed || this.idle.length >= this.maxIdle) reader.close();
    else this.idle.push(reader);
  }

  close(): void {
    this.closed = true;
    for (const reader of this.idle.splice(0)) reader.close();
  }
}

const MAX_STATEMENTS = 64;

/** A connection's statements by SQL text, each prepared once (SQL built per query, e.g. an IN list per count of values, is prepared once per shape). */
export function statementCache(db: Database.Database): <R>(sql: string) => Database.Statement<unknown[], R> {
  const statements = new Map<string, Database.Statement<unknown[]>>();
  return <R>(sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= MAX_STATEMENTS) statements.clear();
      statements.set(sql, (statement = db.prepare<unknown[]>(sql)));
    }
    return statement as Database.Statement<unknown[], R>;
  };
}

export class SqliteReader {
  private readonly db: Database.Database;
  /** The statement of this SQL, prepared once on this connection. */
  readonly statement: <R>(sql: string) => Database.Statement<unknown[], R>;

  constructor(path: string) {
    this.db = new Database(path, { readonly: true });
    // A query reads each page once: SQLite's own default cache (2 MiB, where better-sqlite3
    // builds with 16 MiB) keeps a long scan from holding pages it will not read again.
    this.db.pragma("cache_size = -2000");
    this.statement = statementCache(this.db);
  }

  close(): void {
    this.db.close();
  }
}
