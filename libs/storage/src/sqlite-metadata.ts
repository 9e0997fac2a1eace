import Database from "better-sqlite3";
import { aborted, alreadyExists, invalidArgument, notFound } from "@kiln/core";
import type { Collection, ListOptions, MetadataStore, Replacement, Stored } from "./metadata.js";

const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Metadata in one SQLite file (WAL, so readers never block the writer). Each statement
 * is atomic; create and compare-and-set are single statements, so several processes
 * may share the file safely.
 */
export function openSqliteMetadataStore(path: string): MetadataStore {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 10000");
  const collections = new Map<string, Collection<unknown>>();
  return {
    collection<T>(name: string): Collection<T> {
      if (!COLLECTION_NAME.test(name)) throw invalidArgument("INVALID_COLLECTION", `invalid collection name "${name}"`);
      let c = collections.get(name);
      if (!c) {
        c = sqliteCollection<unknown>(db, name);
        collections.set(name, c);
      }
      return c as Collection<T>;
    },
    async close() {
      db.close();
    },
  };
}

function sqliteCollection<T>(db: Database.Database, name: string): Collection<T> {
  db.exec(`CREATE TABLE IF NOT EXISTS "${name}" (key TEXT PRIMARY KEY, rev INTEGER NOT NULL, value TEXT NOT NULL) WITHOUT ROWID`);
  const get = db.prepare<[string], { key: string; rev: number; value: string }>(`SELECT key, rev, value FROM "${name}" WHERE key = ?`);
  const insert = db.prepare(`INSERT INTO "${name}" (key, rev, value) VALUES (?, 1, ?) ON CONFLICT (key) DO NOTHING`);
  const update = db.prepare(`UPDATE "${name}" SET rev = rev + 1, value = ? WHERE key = ? AND rev = ?`);
  const del = db.prepare(`DELETE FROM "${name}" WHERE key = ?`);
  const delAt = db.prepare(`DELETE FROM "${name}" WHERE key = ? AND rev = ?`);
  const delPrefix = db.prepare(`DELETE FROM "${name}" WHERE key >= ? AND key < ?`);
  const count = db.prepare<[string, string], { n: number }>(`SELECT count(*) AS n FROM "${name}" WHERE key >= ? AND key < ?`);
  const lists = {
    asc: db.prepare(`SELECT key, rev, value FROM "${name}" WHERE key >= ? AND key < ? AND key > ? ORDER BY key ASC LIMIT ?`),
    desc: db.prepare(`SELECT key, rev, value FROM "${name}" WHERE key >= ? AND key < ? AND key < ? ORDER BY key DESC LIMIT ?`),
  };
  const createAll = db.transaction((items: readonly { key: string; value: T }[]) => {
    for (const { key, value } of items) {
      // Throwing rolls the whole transaction back.
      if (insert.run(key, JSON.stringify(value)).changes === 0) throw alreadyExists("ALREADY_EXISTS", `${key} already exists`);
    }
  });
  const updateAll = db.transaction((items: readonly Replacement<T>[]) =>
    items.map(({ key, value, expectedRev }): Stored<T> | "conflict" | "missing" => {
      if (update.run(JSON.stringify(value), key, expectedRev).changes === 1) return { key, rev: expectedRev + 1, value };
      return get.get(key) ? "conflict" : "missing";
    }),
  );
  const getAll = db.transaction((keys: readonly string[]) => keys.map((key) => get.get(key)));
  const row = (r: { key: string; rev: number; value: string }): Stored<T> => ({ key: r.key, rev: r.rev, value: JSON.parse(r.value) as T });

  return {
    async get(key) {
      const r = get.get(key);
      return r && row(r);
    },
    async getMany(keys) {
      return getAll(keys).map((r) => r && row(r));
    },
    async create(key, value) {
      if (insert.run(key, JSON.stringify(value)).changes === 0) throw alreadyExists("ALREADY_EXISTS", `${key} already exists`);
      return { key, rev: 1, value };
    },
    async update(key, value, expectedRev) {
      if (update.run(JSON.stringify(value), key, expectedRev).changes === 1) return { key, rev: expectedRev + 1, value };
      if (!get.get(key)) throw notFound("NOT_FOUND", `${key} not found`);
      throw aborted("REVISION_CONFLICT", `${key} changed since revision ${expectedRev}`);
    },
    async createMany(items) {
      createAll(items);
      return items.map(({ key, value }) => ({ key, rev: 1, value }));
    },
    async updateMany(items) {
      return updateAll(items);
    },
    async delete(key, expectedRev) {
      return (expectedRev === undefined ? del.run(key) : delAt.run(key, expectedRev)).changes > 0;
    },
    async deletePrefix(prefix) {
      return delPrefix.run(prefix, prefixEnd(prefix)).changes;
    },
    async list(options: ListOptions = {}) {
      const prefix = options.prefix ?? "";
      const limit = options.limit ?? -1;
      const rows = options.reverse
        ? lists.desc.all(prefix, prefixEnd(prefix), options.after ?? "\u{10FFFF}", limit)
        : lists.asc.all(prefix, prefixEnd(prefix), options.after ?? "", limit);
      return (rows as { key: string; rev: number; value: string }[]).map(row);
    },
    async count(prefix = "") {
      return count.get(prefix, prefixEnd(prefix))!.n;
    },
  };
}

/** The smallest string greater than every string with this prefix. */
export function prefixEnd(prefix: string): string {
  return prefix + "\u{10FFFF}";
}
