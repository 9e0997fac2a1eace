import { MongoBulkWriteError, MongoClient, MongoServerError, type Collection as MongoCollection } from "mongodb";
import { aborted, alreadyExists, invalidArgument, notFound } from "@kiln/core";
import type { Collection, ListOptions, MetadataStore, Replacement, Stored } from "./metadata.js";

interface Doc {
  _id: string;
  rev: number;
  value: unknown;
}

const DUPLICATE_KEY = 11000;
const COLLECTION_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/** Metadata in MongoDB: one collection per collection, _id = key; CAS through a rev filter. */
export async function openMongoMetadataStore(uri: string, database: string): Promise<MetadataStore> {
  const client = await new MongoClient(uri).connect();
  const db = client.db(database);
  return {
    collection<T>(name: string): Collection<T> {
      if (!COLLECTION_NAME.test(name)) throw invalidArgument("INVALID_COLLECTION", `invalid collection name "${name}"`);
      return mongoCollection<T>(db.collection<Doc>(name));
    },
    async close() {
      await client.close();
    },
  };
}

function keyRange(prefix: string | undefined): Record<string, string> {
  return prefix ? { $gte: prefix, $lt: prefix + "\u{10FFFF}" } : {};
}

function mongoCollection<T>(c: MongoCollection<Doc>): Collection<T> {
  const stored = (d: Doc): Stored<T> => ({ key: d._id, rev: d.rev, value: d.value as T });
  return {
    async get(key) {
      const d = await c.findOne({ _id: key });
      return d ? stored(d) : undefined;
    },
    async getMany(keys) {
      const found = new Map((await c.find({ _id: { $in: [...keys] } }).toArray()).map((d) => [d._id, stored(d)]));
      return keys.map((key) => found.get(key));
    },
    async create(key, value) {
      try {
        await c.insertOne({ _id: key, rev: 1, value });
      } catch (e) {
        if (e instanceof MongoServerError && e.code === DUPLICATE_KEY) throw alreadyExists("ALREADY_EXISTS", `${key} already exists`);
        throw e;
      }
      return { key, rev: 1, value };
    },
    async update(key, value, expectedRev) {
      const r = await c.updateOne({ _id: key, rev: expectedRev }, { $set: { value, rev: expectedRev + 1 } });
      if (r.matchedCount === 1) return { key, rev: expectedRev + 1, value };
      if (!(await c.findOne({ _id: key }, { projection: { _id: 1 } }))) throw notFound("NOT_FOUND", `${key} not found`);
      throw aborted("REVISION_CONFLICT", `${key} changed since revision ${expectedRev}`);
    },
    async createMany(items) {
      if (items.length === 0) return [];
      try {
        await c.insertMany(items.map(({ key, value }) => ({ _id: key, rev: 1, value })), { ordered: true });
      } catch (e) {
        if (!(e instanceof MongoBulkWriteError && [e.writeErrors].flat().some((w) => w.code === DUPLICATE_KEY))) throw e;
        // No multi-document transaction here: an ordered insert stops at the duplicate,
        // so the documents before it are the ones this call made; take them back.
        const made = e.insertedCount;
        await c.deleteMany({ _id: { $in: items.slice(0, made).map((i) => i.key) }, rev: 1 });
        throw alreadyExists("ALREADY_EXISTS", `${items[made]!.key} already exists`);
      }
      return items.map(({ key, value }) => ({ key, rev: 1, value }));
    },
    async updateMany(items: readonly Replacement<T>[]) {
      // Each its own compare-and-set; sent together, they travel concurrently.
      return Promise.all(
        items.map(async ({ key, value, expectedRev }): Promise<Stored<T> | "conflict" | "missing"> => {
          const r = await c.updateOne({ _id: key, rev: expectedRev }, { $set: { value, rev: expectedRev + 1 } });
          if (r.matchedCount === 1) return { key, rev: expectedRev + 1, value };
          return (await c.findOne({ _id: key }, { projection: { _id: 1 } })) ? "conflict" : "missing";
        }),
      );
    },
    async delete(key, expectedRev) {
      const r = await c.deleteOne(expectedRev === undefined ? { _id: key } : { _id: key, rev: expectedRev });
      return r.deletedCount === 1;
    },
    async deletePrefix(prefix) {
      return (await c.deleteMany({ _id: keyRange(prefix) as never })).deletedCount;
    },
    async list(options: ListOptions = {}) {
      const range: Record<string, string> = keyRange(options.prefix);
      if (options.after !== undefined) {
        if (options.reverse) range.$lt = range.$lt !== undefined && range.$lt < options.after ? range.$lt : options.after;
        else range.$gt = options.after;
      }
      let cursor = c.find(Object.keys(range).length ? { _id: range as never } : {}).sort({ _id: options.reverse ? -1 : 1 });
      if (options.limit !== undefined) cursor = cursor.limit(options.limit);
      return (await cursor.toArray()).map(stored);
    },
    async count(prefix) {
      return c.countDocuments(prefix ? { _id: keyRange(prefix) as never } : {});
    },
  };
}
